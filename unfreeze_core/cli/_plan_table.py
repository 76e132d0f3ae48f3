"""How ``unfreeze plan`` prints a :class:`~unfreeze_core.replay.Replay`: one row per epoch.

A title line, then the table: the epoch, the watched metrics, the stage (numbered from 1,
"2/5" as the driver's verbose lines say), how many groups train, the stage the driver
recorded (when the history holds it), the groups released after the epoch, and each
group's LR multiplier at the epoch's **last** step (the rate the driver logs as
``unfreeze_lr/<group>`` and ``unfreeze plot`` draws). When one column per group does not
fit the terminal (or there are more than :data:`MAX_LR_COLUMNS` groups), one column lists
the trainable groups' multipliers, head first. Every number column has one precision.
Then the stage changes, what stays frozen, whether the replay differs from the recorded
run, and the notes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..replay import Replay
from ..schedule import EpochRecord, Schedule
from ..timeline import plural

__all__ = ["MAX_LR_COLUMNS", "column_format", "print_replay"]

MAX_LR_COLUMNS = 8
TIMES = "\u00d7"  # the multiplication sign
LR_NOTE = (
    f"LR {TIMES}: each group's learning-rate multiplier at the epoch's last step (the rate the "
    "driver logs), relative to the optimizer's own rate; '-' while frozen."
)


def column_format(values: Sequence[float]) -> str:
    """One format for every number of a column: fixed-point when all fit, else
    scientific.

    Example:
        >>> column_format([0.25, 1.0]), column_format([0.0004, 1.0]), column_format([])
        ('.3f', '.2e', '.3f')
    """
    seen = [abs(v) for v in values if math.isfinite(v) and v != 0]
    if not seen or (min(seen) >= 1e-3 and max(seen) < 1e5):
        return ".3f" if not seen or max(seen) < 10 else ".1f"
    return ".2e"


def _short(name: str, width: int = 14) -> str:
    name = name.rsplit("/", 1)[-1]
    return name if len(name) <= width else name[: width - 1] + "~"


def _headers(names: Sequence[str]) -> list[str]:
    """Group columns' headers: the last part of each name, made unique."""
    short = [_short(n) for n in names]
    if len(set(short)) == len(short):
        return short
    return [f"{g}:{s}" for g, s in enumerate(short)]


def print_replay(console: Console, replay: Replay, source: str, schedule: Schedule) -> None:
    """Print ``replay`` (groups from ``source``) as a table and a few sentences."""
    records = replay.records
    n = len(replay.groups)
    steps = replay.steps_per_epoch
    console.print(
        f"[bold]Dry run[/]: {len(records)} epochs, {n} groups ({escape(source)}), "
        f"{plural(replay.n_stages, 'stage')}, {plural(steps, 'step')} per epoch"
    )
    table = _table(replay, wide=n <= MAX_LR_COLUMNS)
    if n <= MAX_LR_COLUMNS and _width(table) > console.width:
        table = _table(replay, wide=False)
    console.print(table)
    console.print(f"[dim]{LR_NOTE}[/]")
    _summary(console, replay, schedule)


def _width(table: Table) -> int:
    """The width ``table`` takes when nothing squeezes it."""
    wide = Console(width=10_000, record=True, file=io.StringIO())
    wide.print(table)
    return max(len(line) for line in wide.export_text().splitlines())


def _column(table: Table, header: str, *, right: bool = True) -> None:
    width = max(len(line) for line in header.split("\n"))
    table.add_column(header, justify="right" if right else "left", min_width=width,
                     no_wrap=right, overflow="fold")


def _table(replay: Replay, *, wide: bool) -> Table:
    records = replay.records
    table = Table(header_style="bold")
    _column(table, "epoch")
    metrics = [m for m in replay.monitors if records and m in records[0].logs]
    for m in metrics:
        _column(table, escape(m))
    _column(table, "stage")
    _column(table, "groups\ntrainable")
    if replay.recorded is not None:
        _column(table, "recorded\nstage")
    _column(table, "unfreezes\nafter it", right=False)
    lr = [r.lr_multipliers_end for r in records]
    if wide:
        for header in _headers([g.name for g in replay.groups]):
            _column(table, f"LR {TIMES}\n{escape(header)}")
    else:
        _column(table, f"LR {TIMES} of the trainable\ngroups, head first", right=False)
    formats = {m: column_format([r.logs.get(m, math.nan) for r in records]) for m in metrics}
    if wide:
        group_formats = [column_format([row[g] for row in lr]) for g in range(len(replay.groups))]
    else:  # one column: one format for all
        group_formats = [column_format([m for row in lr for m in row])] * len(replay.groups)
    for r, stage in zip(records, replay.stages, strict=True):
        changed = r.newly_trainable or r.refrozen
        style = "bold yellow" if changed else ("bold red" if r.stop else None)
        table.add_row(*_cells(replay, r, stage, formats, group_formats, wide), style=style)
    return table


def _fmt(m: float, spec: str) -> str:
    return "[dim]-[/]" if m == 0 else format(m, spec)


def _cells(
    replay: Replay,
    r: EpochRecord,
    stage: int,
    formats: dict[str, str],
    group_formats: list[str],
    wide: bool,
) -> list[str]:
    names = [g.name for g in replay.groups]
    cells = [str(r.epoch + 1)]
    cells.extend(format(r.logs.get(m, math.nan), spec) for m, spec in formats.items())
    cells.append(f"{stage}/{replay.n_stages}")
    cells.append(f"{len(r.trainable)}/{len(names)}")
    if replay.recorded is not None:
        rec = replay.recorded_stage(r.epoch)
        same = math.isfinite(rec) and rec == stage
        cells.append(f"{rec:.0f}" if same else f"[bold red]{rec:.0f}[/]")
    change = ", ".join(escape(names[g]) for g in r.newly_trainable)
    if r.refrozen:
        frozen = ", ".join(escape(names[g]) for g in r.refrozen)
        change = (change + "; " if change else "") + f"re-freezes {frozen}"
    if r.stop:
        change = (change + "; " if change else "") + "stop (final stage done)"
    cells.append(change)
    mults = r.lr_multipliers_end
    if wide:
        cells.extend(_fmt(m, spec) for m, spec in zip(mults, group_formats, strict=True))
    else:
        top = [(g, m) for g, m in reversed(list(enumerate(mults))) if m > 0]
        text = ", ".join(f"{escape(_short(names[g]))} {_fmt(m, group_formats[g])}"
                         for g, m in top[:6])
        cells.append(text + (f", ... ({len(top) - 6} more)" if len(top) > 6 else ""))
    return cells


def _summary(console: Console, replay: Replay, schedule: Schedule) -> None:
    records, n = replay.records, len(replay.groups)
    changes = [(r, stage) for r, stage in zip(records, replay.stages, strict=True)
               if r.newly_trainable or r.refrozen]
    if changes:
        summary = "; ".join(
            f"after epoch {r.epoch + 1} -> stage {stage + 1} ({r.stage_after} groups)"
            for r, stage in changes
        )
        console.print(f"Stage changes (groups trainable): {summary}.")
    if records:
        last = records[-1]
        refrozen = any(r.refrozen for r in records)
        if last.stage_after < n and schedule.stage_sets(n) is None and not refrozen:
            frozen = n - last.stage_after
            console.print(f"After {len(records)} epochs {frozen} of {n} groups are still frozen.")
    if replay.differs_from_recorded():
        console.print(
            "[bold red]The replayed stages differ from the recorded ones[/] (column "
            "'recorded stage'): this schedule is not the one that ran, or it was resumed."
        )
    for note in replay.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
