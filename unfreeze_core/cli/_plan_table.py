"""How ``unfreeze plan`` prints a :class:`~unfreeze_core.replay.Replay`: one row per epoch.

Columns: the epoch, the watched metrics, the stage, the stage the driver recorded (when
the history holds it), the groups released after the epoch, and each group's LR
multiplier at the epoch's first step (with more than :data:`MAX_LR_COLUMNS` groups, one
column listing the trainable groups', head first). Then the stage changes, what stays
frozen, whether the replay differs from the recorded run, and the notes.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..replay import Replay
from ..schedule import EpochRecord, Schedule

__all__ = ["MAX_LR_COLUMNS", "print_replay"]

MAX_LR_COLUMNS = 8


def _fmt(m: float) -> str:
    if m == 0:
        return "[dim]-[/]"
    return f"{m:.3f}" if m >= 0.001 else f"{m:.1e}"


def _short(name: str, width: int = 14) -> str:
    name = name.rsplit("/", 1)[-1]
    return name if len(name) <= width else name[: width - 1] + "~"


def print_replay(console: Console, replay: Replay, source: str, schedule: Schedule) -> None:
    """Print ``replay`` (groups from ``source``) as a table and a few sentences."""
    records = replay.records
    n = len(replay.groups)
    steps = replay.steps_per_epoch
    table = Table(
        title=f"Dry run: {len(records)} epochs, {n} groups ({escape(source)}), "
              f"{steps} step{'s' if steps != 1 else ''} per epoch",
        title_justify="left",
    )
    table.add_column("epoch", justify="right")
    shown_metrics = [m for m in replay.monitors if records and m in records[0].logs]
    for m in shown_metrics:
        table.add_column(escape(m), justify="right")
    table.add_column("stage", justify="right")
    if replay.recorded is not None:
        table.add_column("recorded", justify="right")
    table.add_column("then unfreezes")
    wide = n <= MAX_LR_COLUMNS
    if wide:
        for g in replay.groups:
            table.add_column(escape(_short(g.name)), justify="right")
    else:
        table.add_column("LR multipliers of trainable groups (head first)")
    for r in records:
        style = "bold yellow" if r.newly_trainable else ("bold red" if r.stop else None)
        table.add_row(*_cells(replay, r, shown_metrics, wide), style=style)
    console.print(table)
    changes = replay.stage_changes()
    if changes:
        summary = "; ".join(f"after epoch {r.epoch + 1} -> stage {r.stage_after}" for r in changes)
        console.print(f"Stage changes: {summary}.")
    if records:
        last = records[-1]
        if last.stage_after < n and schedule.stage_sets(n) is None:
            frozen = n - last.stage_after
            console.print(f"After {len(records)} epochs {frozen} of {n} groups are still frozen.")
    if replay.differs_from_recorded():
        console.print(
            "[bold red]The replayed stages differ from the recorded ones[/] (column "
            "'recorded'): this schedule is not the one that ran, or it was resumed."
        )
    for note in replay.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)


def _cells(replay: Replay, r: EpochRecord, metrics: list[str], wide: bool) -> list[str]:
    names = [g.name for g in replay.groups]
    cells = [str(r.epoch + 1)]
    cells.extend(f"{r.logs.get(m, math.nan):.4g}" for m in metrics)
    cells.append(f"{r.stage}/{len(names)}")
    if replay.recorded is not None:
        rec = replay.recorded_stage(r.epoch)
        same = math.isfinite(rec) and int(rec) == r.stage
        cells.append(f"{rec:.0f}" if same else f"[bold red]{rec:.0f}[/]")
    change = ", ".join(escape(_short(names[g], 24)) for g in r.newly_trainable)
    if r.stop:
        change = (change + "; " if change else "") + "stop (final stage done)"
    cells.append(change)
    if wide:
        cells.extend(_fmt(m) for m in r.lr_multipliers)
    else:
        top = [(g, m) for g, m in reversed(list(enumerate(r.lr_multipliers))) if m > 0]
        text = ", ".join(f"{escape(_short(names[g]))} {_fmt(m)}" for g, m in top[:6])
        cells.append(text + (f", ... ({len(top) - 6} more)" if len(top) > 6 else ""))
    return cells
