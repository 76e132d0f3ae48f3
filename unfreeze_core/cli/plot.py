"""``unfreeze plot``: the timeline picture of a run recorded with the driver."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from ..plotting import FORMATS, plot_timeline
from ..timeline import Timeline
from ._common import BadInput, guarded, make_console
from .history import find_history, read_history

__all__ = ["default_output", "plot"]


def default_output(run: Path, history_file: Path, fmt: str = "png") -> Path:
    """``RUN/timeline.png`` for a run folder, else ``<history>-timeline.png`` beside the file
    (``.svg``/``.pdf`` for those formats)."""
    if run.is_dir():
        return run / f"timeline.{fmt}"
    return history_file.with_name(f"{history_file.stem}-timeline.{fmt}")


@click.command(short_help="Draw a run's timeline (PNG, SVG or PDF).")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_file", type=click.Path(path_type=Path),
              help="The picture to write; its suffix (.png, .svg, .pdf) sets the format "
                   "(default: RUN/timeline.png for a folder, else <history>-timeline.png "
                   "next to the file).")
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False),
              help="png, svg or pdf (default: the suffix of --out, else png).")
@click.option("--dpi", type=click.IntRange(min=30, max=1200), default=200, show_default=True,
              help="Resolution of a PNG (200 dpi: 2000 pixels wide, fit for print).")
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
    fmt: str | None,
    dpi: int,
) -> None:
    """Draw the timeline of RUN as a PNG, SVG or PDF: every stage named over the epochs,
    the metrics, each group's learning rate at each epoch's last step (the group named
    where it unfreezes), and the trainable parameters.

    RUN is a history recorded with the ProgressiveUnfreezing callback: a Keras History
    saved as JSON (json.dump(history.history, f)), a CSVLogger CSV, or a folder holding a
    history.json (such as the one 'unfreeze demo' writes). For a history recorded without
    the driver, 'unfreeze plan SCHEDULE --history FILE --plot PNG' draws what a schedule
    would have done.

    Exit status: 0 ok, 2 bad input (a missing or unreadable history, one without the
    driver's 'unfreeze_stage' values, an unknown metric, a format that contradicts the
    suffix of --out).

    Examples:

      unfreeze plot unfreeze-demo/

      unfreeze plot unfreeze-demo/ --format pdf

      unfreeze plot training.csv --out timeline.svg --metric val_loss --metric val_accuracy
    """
    history_file = find_history(run)
    history = read_history(history_file)
    timeline = Timeline.from_history(history, monitor=monitor, source=history_file.name)
    fmt = fmt.lower() if fmt else None
    out = out_file if out_file is not None else default_output(run, history_file, fmt or "png")
    suffix = out.suffix.lower().lstrip(".")
    if fmt is not None and suffix != fmt:
        raise BadInput(f"{out}: --format {fmt} asks for a .{fmt} file; give --out ending in "
                       f".{fmt}, or leave --format out (the suffix sets the format)")
    if suffix not in FORMATS:
        raise BadInput(f"{out}: the picture is written as PNG, SVG or PDF; give a file name "
                       "ending in .png, .svg or .pdf")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        plot_timeline(timeline, out, title=title, metrics=list(metrics) or None, dpi=dpi)
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
    bands = timeline.bands()
    changes = ", ".join(
        f"epoch {a + 1}" + (f" (unfreezes {', '.join(new)})" if new else "")
        for a, _, _ in bands[1:] for new in [timeline.newly_trainable(a)]
    ) or "none"
    make_console().print(
        f"{timeline.n_epochs} epochs, {len(bands)} stages (new stage at: {changes}); "
        f"timeline written to {escape(str(out))}",
        soft_wrap=False,
    )
