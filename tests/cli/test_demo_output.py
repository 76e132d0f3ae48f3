"""``unfreeze demo``'s output around the training, with a stand-in for the Keras experiment:
what it says and writes without matplotlib, the schedule's name, the comparison figure,
progress on a terminal and plain lines elsewhere. Fast: nothing trains."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from unfreeze_core.cli import demo as demo_cli
from unfreeze_core.cli import main
from unfreeze_core.demo import PROGRESSIVE, Result, Settings, Strategy
from unfreeze_core.demo.figure import unfreeze_events

from .helpers import PNG_MAGIC, driver_history


class FakeExperiment:
    """Stands in for :class:`unfreeze_core.demo.experiment.Experiment`: no Keras."""

    calls: list[str] = []  # noqa: RUF012 - shared record of what ran, in order

    def __init__(self, settings: Settings, data: Any = None):
        self.settings = settings
        self.last_model = None

    def pretrain(self, on_epoch: Any = None) -> Any:
        FakeExperiment.calls.append("pretrain")
        for e in range(self.settings.pretrain_epochs):
            if on_epoch is not None:
                on_epoch(e, {"loss": 1.0}, None)
        return types.SimpleNamespace(source_accuracy=0.99, seconds=0.1)

    def run(self, strategy: Strategy, schedule: Any = None, *, on_epoch: Any = None) -> Result:
        FakeExperiment.calls.append(strategy.key)
        n = self.settings.epochs
        history = driver_history(n) if strategy.key == PROGRESSIVE else {
            "loss": [1.0 / (e + 1) for e in range(n)],
            "val_loss": [1.0 / (e + 1) for e in range(n)],
            "val_accuracy": [0.4 + 0.05 * e for e in range(n)],
        }
        for e in range(n):
            if on_epoch is not None:
                on_epoch(e, {k: v[e] for k, v in history.items()}, None)
        return Result(strategy.key, strategy.label, 0.01 * strategy.lr_scale, 0.9, 0.99, 0.95,
                      0.5, history, best_epoch=n - 1 if self.settings.restore_best else n,
                      last_target_accuracy=0.88)


@pytest.fixture
def fake_training(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The demo command with a stand-in experiment and no Keras import."""
    FakeExperiment.calls = []
    fake_module = types.ModuleType("unfreeze_core.demo.experiment")
    fake_module.Experiment = FakeExperiment  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "unfreeze_core.demo.experiment", fake_module)
    fake_keras = types.SimpleNamespace(
        __version__="0.0-fake", backend=types.SimpleNamespace(backend=lambda: "fake"))
    monkeypatch.setattr(demo_cli, "import_keras", lambda: fake_keras)
    yield


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib hidden: importing it fails as if it were not installed."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def _demo(tmp_path: Path, *args: str) -> Any:
    return CliRunner(env={"COLUMNS": "160"}).invoke(
        main, ["demo", "--epochs", "6", "--pretrain-epochs", "2", "--out", str(tmp_path / "out"),
               *args])


def test_without_matplotlib_says_so_first_and_writes_everything_else(
    tmp_path: Path, fake_training: None, no_matplotlib: None
) -> None:
    result = _demo(tmp_path, "--compare")
    assert result.exit_code == 0, result.output
    out = result.output
    # said before anything trains
    assert out.index("matplotlib is not installed") < out.index("Pretraining")
    assert FakeExperiment.calls[0] == "pretrain"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "history.json", "results.json", "schedule.json"}
    assert 'pip install "unfreeze-core[plot]"' in out
    assert f"unfreeze plot {tmp_path / 'out'}" in out.replace("\n", " ").replace("  ", " ")
    assert "│ head only" in out  # the table is printed


def test_the_schedule_file_names_the_strategy(
    tmp_path: Path, fake_training: None, files: dict[str, Path]
) -> None:
    result = _demo(tmp_path, "--schedule", str(files["good"]))
    assert result.exit_code == 0, result.output
    assert "default schedule" not in result.output
    assert "schedule (good.toml)" in result.output
    assert "│ progressive (good.toml)" in result.output
    assert "progressive (good.toml): target accuracy 0.900" in result.output
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["results"]["progressive"][0]["label"] == "progressive (good.toml)"
    assert summary["mean"]["progressive"]["label"] == "progressive (good.toml)"


def test_the_scored_epoch_is_said(tmp_path: Path, fake_training: None) -> None:
    result = _demo(tmp_path)
    assert result.exit_code == 0, result.output
    assert "0.990 -> 0.950, best epoch 5 of 6, 0.5 s" in result.output
    assert "5 of 6" in result.output.split("┡")[1]  # in the table
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["scored"] == "best epoch by val_loss"
    (progressive,) = summary["results"]["progressive"]
    assert progressive["scored_epoch"] == 5 and progressive["epochs"] == 6
    assert progressive["target_accuracy_last_epoch"] == 0.88
    last = _demo(tmp_path, "--last-epoch")
    assert "last epoch 6 of 6" in last.output and "best epoch" not in last.output
    assert Settings.chosen(quick=True).restore_best


def test_compare_draws_one_comparison_figure(tmp_path: Path, fake_training: None) -> None:
    pytest.importorskip("matplotlib")
    result = _demo(tmp_path, "--compare")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert (out / "comparison.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "comparison.svg").read_text().lstrip().startswith("<?xml")
    assert (out / "timeline.png").read_bytes()[:8] == PNG_MAGIC
    assert "comparison.png" in result.output.split("Wrote")[1]
    assert "The comparison figure:" in result.output
    alone = _demo(tmp_path, "--out", str(tmp_path / "alone"))
    assert not (tmp_path / "alone" / "comparison.png").exists(), alone.output


def test_plain_lines_without_a_terminal(tmp_path: Path, fake_training: None) -> None:
    result = _demo(tmp_path, "--compare")
    assert "\x1b" not in result.output and "\r" not in result.output  # no bars, no colours
    lines = result.output.splitlines()
    assert "Importing Keras and TensorFlow..." in lines
    assert "Pretraining on digits 0-4 (2 epochs)..." in lines
    assert "Fine-tuning head only (6 epochs)..." in lines
    assert "Writing the outputs (5 steps)..." in lines  # the stand-in has no model to save
    assert lines[-1].startswith("Done in ")


def test_progress_bars_on_a_terminal() -> None:
    from rich.console import Console

    from unfreeze_core.cli.progress import Reporter

    console = Console(force_terminal=True, width=80, record=True)
    reporter = Reporter(console)
    assert reporter.live
    with reporter.task("Fine-tuning head only", 3, "epochs") as task:
        for _ in range(3):
            task.advance()
    assert not Reporter(Console(file=sys.stdout, force_terminal=False)).live


def test_the_unfreeze_events_of_a_history() -> None:
    events = unfreeze_events(driver_history(6))
    assert events == [(3, ["backbone/dense"]), (5, ["backbone/conv"])]


def test_quick_budget_unfreezes_every_group() -> None:
    from unfreeze_core.demo.strategies import QUICK, quick_schedule

    history = {"val_loss": [1.0] * QUICK["epochs"]}
    records = quick_schedule().dry_run(4, history, steps_per_epoch=4)
    assert [r.stage for r in records] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert Settings.chosen(quick=True).epochs == QUICK["epochs"]
