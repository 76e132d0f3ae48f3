"""``unfreeze plot``: the timeline picture of a run recorded with the driver."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from ..plotting import plot_timeline
from ..timeline import Timeline
from ._common import BadInput, guarded, make_console
from .history import find_history, read_history

__all__ = ["default_output", "plot"]


def default_output(run: Path, history_file: Path) -> Path:
    """``RUN/timeline.png`` for a run folder, else ``<history>-timeline.png`` beside the file."""
    if run.is_dir():
        return run / "timeline.png"
    return history_file.with_name(f"{history_file.stem}-timeline.png")


@click.command(short_help="Draw a run's timeline as a PNG.")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_file", type=click.Path(path_type=Path),
              help="The PNG to write (default: RUN/timeline.png for a folder, else "
                   "<history>-timeline.png next to the file).")
@click.option("--metric", "metrics", multiple=True,
              help="A metric to draw (repeatable; default: every metric in the history).")
@click.option("--monitor", help="The metric to emphasise, its best epoch starred "
                                "(default: val_loss, else loss).")
@click.option("--title", help="The figure's title.")
@guarded
def plot(
    run: Path,
    out_file: Path | None,
    metrics: tuple[str, ...],
    monitor: str | None,
    title: str | None,
) -> None:
    """Draw the timeline of RUN as a PNG: stage bands over the epochs, the metrics, each
    group's learning rate, and the trainable parameters.

    RUN is a history recorded with the ProgressiveUnfreezing callback: a Keras History
    saved as JSON (json.dump(history.history, f)), a CSVLogger CSV, or a folder holding a
    history.json (such as the one 'unfreeze demo' writes). For a history recorded without
    the driver, 'unfreeze plan SCHEDULE --history FILE --plot PNG' draws what a schedule
    would have done.

    Exit status: 0 ok, 2 bad input (a missing or unreadable history, one without the
    driver's 'unfreeze_stage' values, an unknown metric).

    Examples:

      unfreeze plot unfreeze-demo/

      unfreeze plot training.csv --out timeline.png --metric val_loss --metric val_accuracy
    """
    history_file = find_history(run)
    history = read_history(history_file)
    timeline = Timeline.from_history(history, monitor=monitor, source=history_file.name)
    out = out_file if out_file is not None else default_output(run, history_file)
    if out.suffix.lower() != ".png":
        raise BadInput(f"{out}: the picture is written as PNG; give a file name ending in .png")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        plot_timeline(timeline, out, title=title, metrics=list(metrics) or None)
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
    bands = timeline.bands()
    changes = ", ".join(f"epoch {a + 1}" for a, _, _ in bands[1:]) or "none"
    make_console().print(
        f"{timeline.n_epochs} epochs, {len(bands)} stages (changes at: {changes}); "
        f"timeline written to {escape(str(out))}"
    )
