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
    assert (
        "6 epochs, 3 stages (new stage at: epoch 3 (unfreezes backbone/dense), epoch 5 "
        "(unfreezes backbone/conv))"
    ) in result.output.replace("\n", "")
    image = picture(files["history"].with_name("history-timeline.png"))
    height, width = image.shape[:2]
    assert width >= 2000 and height > 1800  # four panels and the stage strip, for print
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
        (None, ["--out", "timeline.gif"], "ending in .png, .svg or .pdf"),
        (None, ["--out", "timeline.png", "--format", "svg"], "--format svg asks for a .svg"),
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


def test_dpi_and_formats(tmp_path: Path, files: dict[str, Path]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text(files["history"].read_text())
    small = CliRunner().invoke(main, ["plot", str(run), "--dpi", "50"])
    assert small.exit_code == 0, small.output
    assert picture(run / "timeline.png").shape[1] == 500  # 10 inches wide
    for fmt, magic in (("svg", b"<?xml"), ("pdf", b"%PDF")):
        result = CliRunner().invoke(main, ["plot", str(run), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert (run / f"timeline.{fmt}").read_bytes().startswith(magic)
    by_suffix = CliRunner().invoke(main, ["plot", str(run), "--out", str(tmp_path / "t.pdf")])
    assert by_suffix.exit_code == 0, by_suffix.output
    assert (tmp_path / "t.pdf").read_bytes()[:4] == b"%PDF"


def test_the_figure_names_every_stage_and_unfreeze(tmp_path: Path) -> None:
    """Every stage is labelled, even one epoch wide; every unfreeze line names its group;
    the parameter axis is logarithmic (a head of 10 parameters is not drawn as zero)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    history = driver_history(6)
    history["unfreeze_stage"] = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0]
    history["unfreeze_groups_trainable"] = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0]
    for g, name in enumerate(["backbone/conv", "backbone/dense", "head"]):
        history[f"unfreeze_lr/{name}"] = [
            0.01 if g >= 3 - s else 0.0 for s in history["unfreeze_groups_trainable"]
        ]
    history["unfreeze_trainable_params"] = [10.0, 110.0, 110.0, 110.0, 110.0, 1110.0]
    texts: list[str] = []
    scales: list[str] = []
    real_savefig = plt.Figure.savefig

    def spy(fig: object, *args: object, **kwargs: object) -> None:
        for ax in fig.axes:  # type: ignore[attr-defined]
            texts.extend(t.get_text() for t in ax.texts)
            scales.append(ax.get_yscale())
        real_savefig(fig, *args, **kwargs)

    plt.Figure.savefig = spy  # type: ignore[method-assign]
    try:
        plot_timeline(Timeline.from_history(history), tmp_path / "t.png")
    finally:
        plt.Figure.savefig = real_savefig  # type: ignore[method-assign]
    assert [t.split("\n")[0] for t in texts if t.startswith("stage")] == [
        "stage 1", "stage 2", "stage 3"]
    assert "unfreezes dense" in texts and "unfreezes conv" in texts
    assert scales[-1] == "log"  # the trainable parameters


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
    for name in ("LOG_STAGE", "LOG_GROUPS", "LOG_STEPS", "LOG_STAGE_INDEX", "LOG_TRAINABLE",
                 "LOG_LR", "LOG_GRAD_NORM"):
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
    assert "3 epochs, 3 stages (new stage at: epoch 2 (unfreezes b), epoch 3 (unfreezes a))" in (
        result.output.replace("\n", "")
    )
    picture(tmp_path / "training-timeline.png")

    sched = tmp_path / "s.json"
    sched.write_text(json.dumps(schedule.to_config()))
    replay = CliRunner().invoke(main, ["plan", str(sched), "--history", str(csv), "--json"])
    assert replay.exit_code == 0, replay.output
    epochs = json.loads(replay.output)["epochs"]
    assert [e["trainable"] for e in epochs] == [["c"], ["b", "c"], ["a", "b", "c"]]
