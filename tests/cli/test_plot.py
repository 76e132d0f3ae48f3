"""``unfreeze plot`` and the timeline picture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from unfreeze_core import timeline
from unfreeze_core.cli import main
from unfreeze_core.plotting import plot_timeline
from unfreeze_core.timeline import Timeline

from .helpers import PNG_MAGIC, RunCli, driver_history


def picture(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    return matplotlib.image.imread(path)  # type: ignore[no-any-return]


def test_plot_a_history_file(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["plot", str(files["history"])])
    assert result.exit_code == 0, result.output
    assert "6 epochs, 3 stages (changes at: epoch 3, epoch 5)" in result.output
    image = picture(files["history"].with_name("history-timeline.png"))
    height, width = image.shape[:2]
    assert width > 900 and height > 800  # four panels: loss, metrics, rates, parameters
    assert image.std() > 0.05  # not a blank canvas


def test_plot_a_run_folder_and_choose_metrics(tmp_path: Path, files: dict[str, Path]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text(files["history"].read_text())
    result = CliRunner().invoke(main, ["plot", str(run), "--metric", "val_accuracy",
                                       "--title", "my run"])
    assert result.exit_code == 0, result.output
    assert (run / "timeline.png").is_file()
    full = CliRunner().invoke(main, ["plot", str(run), "--out", str(tmp_path / "full.png")])
    assert full.exit_code == 0, full.output
    # one metric, no loss: one panel fewer, so a shorter figure
    assert picture(run / "timeline.png").shape[0] < picture(tmp_path / "full.png").shape[0]


def test_panels_follow_the_data(tmp_path: Path) -> None:
    history = driver_history()
    everything = plot_timeline(Timeline.from_history(history), tmp_path / "all.png")
    del history["unfreeze_trainable_params"]
    history = {k: v for k, v in history.items() if not k.startswith("unfreeze_lr/")}
    bare = plot_timeline(Timeline.from_history(history), tmp_path / "bare.png")
    assert picture(bare).shape[0] < picture(everything).shape[0]


@pytest.mark.parametrize(
    ("history", "args", "message"),
    [
        ({"loss": [1.0, 0.5]}, [], "not recorded with the ProgressiveUnfreezing callback"),
        (None, ["--metric", "val_auc"], "no metric 'val_auc' in the history"),
        (None, ["--monitor", "val_auc"], "'val_auc' is not in the history"),
        (None, ["--out", "timeline.svg"], "ending in .png"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path, history: dict[str, list[float]] | None, args: list[str], message: str
) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps(history if history is not None else driver_history()))
    result = CliRunner().invoke(main, ["plot", str(path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_plot_in_a_subprocess(files: dict[str, Path], run_cli: RunCli, tmp_path: Path) -> None:
    ok = run_cli("plot", str(files["history"]), "--out", "pictures/t.png")
    assert ok.returncode == 0, ok.stderr
    picture(tmp_path / "pictures" / "t.png")
    bad = run_cli("plot", "missing.csv")
    assert bad.returncode == 2
    assert "missing.csv does not exist" in bad.stderr


@pytest.mark.keras
def test_a_real_csvlogger_run_plots_and_replays(tmp_path: Path, files: dict[str, Path]) -> None:
    import keras

    from unfreeze_core import FixedEpoch, Schedule
    from unfreeze_core import keras as driver
    from unfreeze_core.keras import ProgressiveUnfreezing

    # the keys read here are the driver's own
    for name in ("LOG_STAGE", "LOG_STAGE_INDEX", "LOG_TRAINABLE", "LOG_LR", "LOG_GRAD_NORM"):
        assert getattr(timeline, name) == getattr(driver, name)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
                              keras.layers.Dense(3, name="b"), keras.layers.Dense(1, name="c")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 1))
    csv = tmp_path / "training.csv"
    schedule = Schedule(FixedEpoch(every=1))
    model.fit(x, y, validation_data=(x, y), epochs=3, batch_size=16, verbose=0,
              callbacks=[ProgressiveUnfreezing(schedule), keras.callbacks.CSVLogger(str(csv))])
    result = CliRunner().invoke(main, ["plot", str(csv)])
    assert result.exit_code == 0, result.output
    assert "3 epochs, 3 stages (changes at: epoch 2, epoch 3)" in result.output
    picture(tmp_path / "training-timeline.png")

    sched = tmp_path / "s.json"
    sched.write_text(json.dumps(schedule.to_config()))
    replay = CliRunner().invoke(main, ["plan", str(sched), "--history", str(csv), "--json"])
    assert replay.exit_code == 0, replay.output
    epochs = json.loads(replay.output)["epochs"]
    assert [e["trainable"] for e in epochs] == [["c"], ["b", "c"], ["a", "b", "c"]]
