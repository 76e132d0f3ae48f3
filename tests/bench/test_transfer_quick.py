"""The real-weights transfer section in quick mode, end to end in a subprocess.

What is checked: every available task runs every arm, the JSON has what the report
needs, the numbers are in range, a frozen backbone keeps its source score exactly, and
the report renders the section with its targets table and figure. Plus the pure parts
(the targets table, the arms' timetables) on hand-made numbers, in milliseconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _task(key: str, arms: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """A task result: arm -> (target accuracy, source lost), source before 1.0."""
    return {"key": key, "arms": [
        {"arm": a, "target_accuracy": {"mean": t, "std": 0.0},
         "source_lost": {"mean": lost, "std": 0.0}} for a, (t, lost) in arms.items()]}


def test_targets_computed_from_the_numbers() -> None:
    from bench.transfer.summary import targets

    settings = {"recommended": "rec", "fixed_timetable": ["gradual", "rec"]}
    result = {"settings": settings, "tasks": [
        _task("a", {"unfreeze_all": (0.80, 0.30), "rec": (0.797, 0.09), "gradual": (0.79, 0.1),
                    "plateau": (0.70, 0.0), "gradnorm": (0.793, 0.2)}),
        _task("b", {"unfreeze_all": (0.60, 0.30), "rec": (0.62, 0.11), "gradual": (0.63, 0.1),
                    "plateau": (0.60, 0.0), "gradnorm": (0.626, 0.2)}),
    ]}
    rows = targets(result)

    def met(prefix: str, task: str) -> list[bool]:
        return [r["met"] for r in rows if r["target"].startswith(prefix) and r["task"] == task]

    assert met("(a)", "a") == [True]  # -0.3 pt: within 0.5
    assert met("(a)", "b") == [True]  # +2 pt
    assert met("(a)", "all") == [True]  # above on b
    assert met("(b)", "a") == [True] and met("(b)", "b") == [False]  # 0.09 <= 0.1 < 0.11
    # (c): plateau misses, gradnorm is within 0.5 pt of the best fixed timetable
    assert met("(c) plateau", "a") == met("(c) plateau", "b") == [False]
    assert met("(c) gradnorm", "a") == met("(c) gradnorm", "b") == [True]


def test_arms_meeting_both_accuracy_and_forgetting_targets() -> None:
    from bench.transfer.summary import both_targets

    result = {"tasks": [
        _task("a", {"unfreeze_all": (0.80, 0.30), "rec": (0.797, 0.09),
                    "gradual": (0.79, 0.05), "head": (0.5, 0.0)}),
        _task("b", {"unfreeze_all": (0.60, 0.30), "rec": (0.62, 0.11)}),
    ]}
    # a: rec is within 0.5 pt and loses 0.09 <= 0.1; gradual is 1 pt below; head far below
    assert both_targets(result) == {"a": ["rec"], "b": []}


def test_timetables_fit_the_budget() -> None:
    from bench.transfer.arms import Budget, arms

    found = {a.key: a for a in arms()}
    assert {"head_only", "unfreeze_all", "lp_ft", "gradual", "gradual_discr_warmup",
            "plateau", "gradnorm"} <= set(found)
    budget = Budget(epochs=8, steps=5, n_groups=6)
    logs = {"val_loss": [1.0 / (e + 1) for e in range(budget.epochs)]}
    norms = [(1.0,) * 6] * (budget.epochs * budget.steps)
    for key, arm in found.items():
        if arm.schedule is None:
            continue
        # every schedule the quick run does not train is at least built and dry-run here
        schedule = arm.schedule(budget, None)
        rows = schedule.dry_run(6, logs, steps_per_epoch=budget.steps, grad_norms=norms)
        trainable = [len(r.trainable) for r in rows]
        assert trainable[0] == 1, (key, trainable)
        if key in ("lp_ft", "gradual", "gradual_discr_warmup", "slanted_triangular"):
            assert trainable[-1] == 6, (key, trainable)  # everything trains by the end
        if key == "chain_thaw":
            assert trainable == [1, 1, 1, 1, 1, 1, 6, 6], trainable


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("transfer")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--quick", "--only", "transfer", "--out",
         str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"wrote {out / 'transfer'}.json" in proc.stdout
    return out


@pytest.mark.keras
@pytest.mark.slow
def test_transfer_section(results: Path) -> None:
    data = json.loads((results / "transfer.json").read_text())
    assert data["meta"]["profile"] == "quick"
    if not data["tasks"]:
        pytest.skip(f"no transfer task available: {data['skipped']}")
    keys = [a["key"] for a in data["arms"]]
    assert set(keys) >= {"head_only", "unfreeze_all", data["settings"]["recommended"]}
    for task in data["tasks"]:
        assert [a["arm"] for a in task["arms"]] == keys
        for a in task["arms"]:
            for key in ("target_accuracy", "val_accuracy", "source_after"):
                assert 0.0 <= a[key]["mean"] <= 1.0, (task["key"], a["arm"], key)
            assert a["lr"] in data["settings"]["lr_grid"]
            assert a["seconds"]["mean"] > 0
        arms = {a["arm"]: a for a in task["arms"]}
        # a frozen backbone computes what it computed: the source score is kept exactly
        assert arms["head_only"]["source_after"]["mean"] == task["source_before"]
        assert arms[data["settings"]["recommended"]]["stages_by_seed"][0][0] == 1
    n = len(data["settings"]["seeds"]) * len(data["settings"]["lr_grid"]) * len(keys)
    assert len(data["runs"]) == n * len(data["tasks"])


@pytest.mark.keras
@pytest.mark.slow
def test_report_renders_transfer(results: Path, tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "report", "--results", str(results), "--doc", str(doc)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = doc.read_text()
    assert "## Transfer: real pretrained weights" in text
    assert "### Targets (issue 14)" in text
    assert (tmp_path / "img" / "benchmarks-transfer.png").stat().st_size > 10_000


@pytest.mark.parametrize("size", ["full", "tta"])
@pytest.mark.parametrize("key", ["vgg16_fashion", "vgg16_mnist"])
def test_vision_data_follows_the_interface(key: str, size: str) -> None:
    import numpy as np

    from bench.transfer.tasks import SIZES as ALL_SIZES
    from bench.transfer.tasks import check_task_data
    from bench.transfer.vision_tasks import SIZES, VISION_TASKS

    assert size in ALL_SIZES
    task = next(t for t in VISION_TASKS if t.key == key)
    if (why := task.available()) is not None:
        pytest.skip(why)
    data = task.data(0, size)
    check_task_data(task, data)
    per_class, n_val, n_test = SIZES[size]
    assert np.bincount(data.train.y, minlength=10).tolist() == [per_class] * 10
    assert (len(data.val), len(data.test)) == (n_val, n_test)
    assert data.train.x.shape[1:] == (32, 32, 3) and data.train.x.dtype == np.float32
    again = task.data(0, size)  # a seed draws the same splits
    assert np.array_equal(again.train.y, data.train.y)
    assert not np.array_equal(task.data(1, size).train.y, data.train.y)


def test_edge_f1() -> None:
    import numpy as np

    from bench.transfer.vision_tasks import edge_f1

    ref = np.array([[0.9, 0.1], [0.6, 0.2]])
    assert edge_f1(ref, ref) == 1.0
    assert edge_f1(np.array([[0.9, 0.1], [0.1, 0.7]]), ref) == 0.5  # 1 shared of 2 + 2


def _tta_run(arm: str, seed: int, clock: list[float], acc: list[float]) -> dict[str, Any]:
    return {"task": "t", "arm": arm, "seed": seed, "lr": 1e-4, "clock": clock,
            "accuracy": acc, "final_accuracy": acc[-1], "cache_bytes": 0}


def test_time_to_accuracy_is_read_from_the_epoch_clock() -> None:
    from bench.time_to_accuracy import _summarise

    runs = [
        _tta_run("unfreeze_all", 0, [10, 20, 30], [0.5, 0.7, 0.8]),
        _tta_run("unfreeze_all", 1, [10, 20, 30], [0.5, 0.8, 0.6]),  # target 0.7
        _tta_run("recommended", 0, [2, 4, 6], [0.6, 0.71, 0.75]),
        _tta_run("recommended", 1, [2, 4, 6], [0.6, 0.65, 0.69]),  # never reaches 0.7
        _tta_run("recommended_cached", 0, [1, 2, 3], [0.7, 0.7, 0.9]),
        _tta_run("recommended_cached", 1, [1, 2, 3], [0.1, 0.2, 0.9]),
    ]
    out = _summarise(runs)
    assert out["target_accuracy"] == pytest.approx(0.7)
    ua, rec, cached = (out["arms"][k] for k in ("unfreeze_all", "recommended",
                                                 "recommended_cached"))
    assert ua["time_to_target"]["mean"] == 20 and ua["ratio_to_unfreeze_all"] == 1
    assert rec["reached"] == 1 and rec["ratio_to_unfreeze_all"] is None  # one seed missed
    assert cached["time_to_target"]["mean"] == 2 and cached["ratio_to_unfreeze_all"] == 0.1
    assert rec["ratio_where_both_reached"] == pytest.approx(4 / 20)  # seed 0 only
    assert rec["seeds_both_reached"] == 1
    assert out["arms"]["recommended_cached_autofreeze"]["seeds"] == 0


def test_time_to_accuracy_refuses_an_unknown_arm_before_training() -> None:
    import attrs

    from bench.profiles import PROFILES
    from bench.time_to_accuracy import run_time_to_accuracy

    quick = PROFILES["quick"]
    profile = attrs.evolve(quick, caching=attrs.evolve(
        quick.caching, tta_more=(("vgg16_fashion", "quick", ("unfreeze_all", "recomended")),)))
    with pytest.raises(ValueError, match=r"unknown arms \['recomended'\]"):
        run_time_to_accuracy(profile)
