"""``unfreeze demo``: the real transfer-learning run, its files and what it prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from unfreeze_core import load_schedule
from unfreeze_core.cli import main
from unfreeze_core.demo import STRATEGIES, default_schedule, load_digits, make_transfer
from unfreeze_core.demo.report import verdict

from .helpers import PNG_MAGIC, RunCli

FIXED3 = {"version": 1, "policy": {"type": "fixed_epoch", "every": 3},
          "rules": [{"type": "discriminative", "factor": 2.6}]}


def test_the_shipped_data() -> None:
    x, y = load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_the_transfer_split() -> None:
    d = make_transfer(7, labels_per_class=6)
    assert len(d.target_train) == 30 and np.bincount(d.target_train.y).tolist() == [6] * 5
    assert len(d.target_val) == 100
    assert len(d.source_train) + len(d.source_test) == 901
    assert len(d.target_train) + len(d.target_val) + len(d.target_test) == 896
    again = make_transfer(7, labels_per_class=6)
    assert np.array_equal(again.target_test.x, d.target_test.x)
    other = make_transfer(8, labels_per_class=6)
    assert not np.array_equal(other.target_train.x, d.target_train.x)
    with pytest.raises(ValueError, match="between 1 and 159"):
        make_transfer(0, labels_per_class=500)


def test_the_default_schedule_is_plain_config() -> None:
    schedule = default_schedule()
    assert load_schedule(schedule.to_config()) == schedule
    assert schedule.to_config()["policy"] == {"type": "plateau", "min_delta": 0.03, "patience": 2,
                                              "min_rel_delta": 0.0, "unfrozen_by": None}


def test_verdict_says_what_the_numbers_say() -> None:
    rows = {
        "progressive": {"label": "progressive", "target": 0.90, "kept": 0.97, "lost": 0.03},
        "head_only": {"label": "head only", "target": 0.80, "kept": 1.0, "lost": 0.0},
        "unfreeze_all": {"label": "unfreeze all", "target": 0.905, "kept": 0.2, "lost": 0.8},
        "unfreeze_all_low_lr": {"label": "low", "target": 0.95, "kept": 0.9, "lost": 0.1},
    }
    target, source = verdict(rows)
    assert "beats head only (0.800, +0.100)" in target
    assert "ties with unfreeze all (0.905, -0.005)" in target
    assert "is below low (0.950, -0.050)" in target
    assert "head only keeps 1.000 (progressive forgets 0.030 more)" in source
    assert "unfreeze all keeps 0.200 (progressive forgets 0.770 less)" in source
    assert verdict({"progressive": rows["progressive"]}) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "500"], "labels_per_class must be between 1 and 159"),
        (["--labels", "0"], "0 is not in the range x>=1"),
        (["--schedule", "{bad}"], "policy.any_of[0].patience: must be >= 0, got -1"),
        (["--schedule", "{missing}"], "no such file"),
        (["--out", "{bad}"], "is a file; give a folder"),
    ],
)
def test_bad_input_exits_2_before_training(
    files: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    filled = [a.format(bad=files["bad"], missing=tmp_path / "nope.toml") for a in args]
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "out"), *filled])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Pretrained" not in result.output


@pytest.mark.keras
def test_a_seed_reproduces_the_fine_tuning() -> None:
    from unfreeze_core.demo.experiment import Experiment, Settings

    settings = Settings(seed=5, epochs=2, pretrain_epochs=1, labels_per_class=4)
    first = Experiment(settings).run(STRATEGIES["unfreeze_all"])
    second = Experiment(settings).run(STRATEGIES["unfreeze_all"])
    assert first.history == second.history
    assert first.target_accuracy == second.target_accuracy


def _table_rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.keras
@pytest.mark.slow
def test_the_demo_runs_for_real(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "fixed3.json").write_text(json.dumps(FIXED3))
    run = run_cli("demo", "--quick", "--compare", "--epochs", "9", "--seed", "3",
                  "--schedule", "fixed3.json", "--out", "out")
    assert run.returncode == 0, run.stdout + run.stderr
    out = tmp_path / "out"
    # progress per epoch, stage changes highlighted
    assert ">> from epoch 4: unfreezing 'backbone/dense'" in run.stdout
    assert ">> from epoch 7: unfreezing 'backbone/conv2'" in run.stdout
    assert re.search(r"^\s+9\s+3/4\s", run.stdout, re.M)
    # the files
    assert {p.name for p in out.iterdir()} == {
        "history.json", "timeline.png", "results.json", "schedule.json", "model.keras",
        "comparison.png", "comparison.svg"}
    assert (out / "timeline.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "comparison.png").read_bytes()[:8] == PNG_MAGIC
    history = json.loads((out / "history.json").read_text())
    assert history["unfreeze_stage"] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert len(history["val_loss"]) == 9
    assert json.loads((out / "schedule.json").read_text()) == FIXED3
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["seed"] == 3 and results["settings"]["epochs"] == 9
    assert list(results["results"]) == list(STRATEGIES)
    # the printed table holds the numbers of results.json
    rows = _table_rows(run.stdout)
    assert results["results"]["progressive"][0]["label"] == "progressive (fixed3.json)"
    for key in STRATEGIES:
        (r,) = results["results"][key]
        row = rows[r["label"]]
        assert row[1] == f"{r['target_accuracy']:.3f}"
        assert row[2] == f"{r['source_accuracy_after']:.3f}"
        assert row[3] == f"{r['source_accuracy_lost']:.3f}"
        assert row[4] == f"{r['scored_epoch']} of 9"
        assert 1 <= r["scored_epoch"] <= 9
        assert 0.0 <= r["target_accuracy"] <= 1.0
        assert r["source_accuracy_before"] == results["results"]["progressive"][0][
            "source_accuracy_before"]
    head = results["results"]["head_only"][0]
    assert head["source_accuracy_after"] == head["source_accuracy_before"]  # backbone untouched
    assert f"to {out.resolve()}" in run.stdout.replace("\n", "")
    assert "Target accuracy: progressive" in run.stdout

    # the written schedule replays to the recorded stages, over the saved model's groups
    plan = run_cli("plan", "out/schedule.json", "--model", "out/model.keras",
                   "--history", "out/history.json", "--steps-per-epoch", "4")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "differ" not in plan.stdout
    for name in ("backbone/conv1", "backbone/conv2", "backbone/dense", "target_head"):
        assert name in plan.stdout
    assert run_cli("plot", "out").returncode == 0

    # the default schedule, same seed: the same pretraining, the same split
    again = run_cli("demo", "--quick", "--seed", "3", "--out", "again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "schedule (quick schedule)  policy: fixed_epoch(every=3)" in again.stdout
    line = re.compile(r"^Pretrained on digits 0-4.*accuracy (\d\.\d+)$", re.M)
    assert line.findall(again.stdout) == line.findall(run.stdout) != []
    assert "head only" not in again.stdout  # no --compare, no baselines
    assert json.loads((tmp_path / "again" / "results.json").read_text())["settings"]["epochs"] == 10
