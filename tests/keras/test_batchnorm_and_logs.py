"""BatchNorm modes, epoch logs, verbose lines and the final-stage stop."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from unfreeze_core import ByLayers, FixedEpoch, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import Recorder, data, mlp, same

pytestmark = pytest.mark.keras


def _bn_run(mode: str, groups: Any = None) -> tuple[Recorder, Any]:
    x, y = data(32)
    model = mlp(widths=(8, 8), bn=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rec = Recorder()
    kwargs = {"groups": groups} if groups is not None else {}
    schedule = Schedule(FixedEpoch(every=1), batchnorm=mode, **kwargs)
    cb = ProgressiveUnfreezing(schedule)
    model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[cb, rec])
    return rec, model


def test_batchnorm_frozen_keeps_statistics_and_inference_mode() -> None:
    rec, model = _bn_run("frozen")
    for bn in ("bn0", "bn1"):
        assert same(rec.begin[0][bn], rec.end[-1][bn])  # gamma, beta, moving stats
        assert model.get_layer(bn).trainable is False
    assert not same(rec.begin[3]["l0"], rec.end[3]["l0"])  # every group trains by then


def test_batchnorm_follow_unfreezes_with_its_group() -> None:
    groups = ByLayers([["l0", "bn0"], ["l1", "bn1"], ["head"]])
    rec, _ = _bn_run("follow", groups)
    # bn1 belongs to the group released at the end of epoch 0, bn0 at the end of epoch 1
    assert same(rec.begin[0]["bn1"], rec.end[0]["bn1"])
    assert not same(rec.begin[1]["bn1"], rec.end[1]["bn1"])
    assert same(rec.begin[0]["bn0"], rec.end[1]["bn0"])
    assert not same(rec.begin[2]["bn0"], rec.end[2]["bn0"])


def test_batchnorm_train_is_always_trainable() -> None:
    rec, model = _bn_run("train")
    for bn in ("bn0", "bn1"):
        assert not same(rec.begin[0][bn], rec.end[0][bn])  # moves while l0/l1 are frozen
        assert model.get_layer(bn).trainable is True
    assert same(rec.begin[0]["l0"], rec.end[0]["l0"])


def test_logs_verbose_lines_and_csv_logger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = data(32)
    model = mlp(widths=(8, 8))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="mse")
    path = tmp_path / "log.csv"
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(at=[2, 3])), verbose=1)
    h = model.fit(x, y, epochs=4, batch_size=16, verbose=0,
                  callbacks=[cb, keras.callbacks.CSVLogger(str(path))])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "unfreezing" in line]
    assert lines == [
        "Epoch 3: unfreezing group 'l1' (stage 2/3, 81 of 137 parameters trainable)",
        "Epoch 4: unfreezing group 'l0' (stage 3/3, 137 of 137 parameters trainable)",
    ]
    assert h.history["unfreeze_stage"] == [1.0, 1.0, 2.0, 3.0]
    assert h.history["unfreeze_groups_trainable"] == [1.0, 1.0, 2.0, 3.0]
    assert h.history["unfreeze_trainable_params"] == [9.0, 9.0, 81.0, 137.0]
    assert h.history["unfreeze_steps"] == [2.0, 4.0, 6.0, 8.0]
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["unfreeze_stage"]) for r in rows] == [1.0, 1.0, 2.0, 3.0]
    assert [float(r["unfreeze_lr/l0"]) for r in rows] == pytest.approx([0, 0, 0, 1e-3])
    assert {"unfreeze_groups_trainable", "unfreeze_trainable_params", "unfreeze_lr/head"} <= set(
        rows[0]
    )
    assert "unfreeze_stage_index" not in rows[0]  # the stage number minus 1: no longer logged


WARMUP = {
    "version": 1,
    "initial": 2,  # two groups train in stage 1: the stage number and the count differ
    "policy": {"type": "fixed_epoch", "every": 2},
    "rules": [{"type": "warmup", "steps": 7}, {"type": "discriminative", "factor": 2.6}],
}


def test_a_replay_of_the_schedule_agrees_with_the_run_epoch_by_epoch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``unfreeze plan --history`` and the driver's logs tell the same story: the same
    stage numbers, and each group's rate at the epoch's last step, with the steps per
    epoch read from the history (3 here, so a 7-step warmup ends in epoch 3, not 7)."""
    from unfreeze_core import load_schedule
    from unfreeze_core.replay import recorded_groups, replay

    x, y = data(12)
    model = mlp(widths=(8, 8, 8, 8))  # 5 groups
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    cb = ProgressiveUnfreezing(WARMUP, verbose=2)
    h = model.fit(x, y, epochs=7, batch_size=4, verbose=0, callbacks=[cb]).history
    groups = recorded_groups(h)
    assert groups is not None
    r = replay(load_schedule(WARMUP), groups, h)
    assert r.steps_per_epoch == 3
    assert list(r.stages) == h["unfreeze_stage"] == [1, 1, 2, 2, 3, 3, 4]
    assert [len(rec.trainable) for rec in r.records] == h["unfreeze_groups_trainable"]
    assert not r.differs_from_recorded()
    for g, group in enumerate(groups):
        logged = h[f"unfreeze_lr/{group.name}"]
        assert [rec.lr_multipliers_end[g] * 1e-3 for rec in r.records] == pytest.approx(logged)
    assert h["unfreeze_lr/head"][:3] == pytest.approx([3 / 7 * 1e-3, 6 / 7 * 1e-3, 1e-3])
    epoch_lines = [line for line in capsys.readouterr().out.splitlines()
                   if line.startswith("Epoch 3: loss")]
    assert epoch_lines and len(epoch_lines[0]) < 120
    assert "stage 2/4, 3 of 5 groups trainable; lr head 1.0e-03" in epoch_lines[0]


def test_final_stage_stop_restores_best_weights(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = data(32)
    model = mlp(widths=(8,))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rec = Recorder()
    # "best" = highest loss, the first epoch's, so restoring is visible
    schedule = Schedule(FixedEpoch(every=1), final="stop", monitor="loss", mode="max")
    cb = ProgressiveUnfreezing(schedule, restore_best_weights=True, verbose=1)
    h = model.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[cb, rec])
    assert len(h.history["loss"]) == 2  # stage 2 from epoch 1, ready again at its end: stop
    assert model.stop_training
    final = {r: [np.array(v) for v in vals] for r, vals in rec.end[0].items()}
    from .helpers import layer_values

    assert all(same(final[k], v) for k, v in layer_values(model).items())
    assert "Epoch 2: final stage done, stopping (best loss" in capsys.readouterr().out
