"""What the demo reports: the comparison table, the verdict in words, the files it writes.

Plain Python over :class:`~unfreeze_core.demo.strategies.Result` records (no Keras):
:func:`summarize` reduces each strategy's results over seeds, :func:`results_table`
shows them, :func:`verdict` says what they show and nothing more, and :func:`writers`
lists the files of a run (the history, the results, the schedule, the model and, with
matplotlib, the timeline and comparison pictures), each with the function that writes
it, so that a front end can show progress; :func:`write_outputs` writes them all.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.markup import escape
from rich.table import Table

from ..plotting import plot_timeline
from ..schedule import Schedule
from ..timeline import Timeline
from .figure import draw_comparison
from .strategies import MONITOR, PROGRESSIVE, Result, Settings

__all__ = [
    "COMPARISON",
    "TIE",
    "Row",
    "Writer",
    "results_table",
    "scored",
    "summarize",
    "verdict",
    "write_outputs",
    "writers",
]

COMPARISON = "comparison.png"
"""The ``--compare`` figure's file name (an SVG of the same name is written beside it)."""

Writer = tuple[str, Callable[[], list[Path]]]
"""A file's name and the function that writes it (returning the paths written)."""

TIE = 0.01
"""Accuracy differences up to this much (one seed) are called a tie."""


@attrs.frozen
class Row:
    """One strategy's results over the seeds (means, and every value for the spread)."""

    key: str
    label: str
    lr: float
    target: tuple[float, ...]
    kept: tuple[float, ...]
    lost: tuple[float, ...]
    seconds: tuple[float, ...]
    scored_epochs: tuple[int, ...] = ()
    epochs: int = 0

    def scored_cell(self) -> str:
        """Which epoch's weights were scored: ``"30 of 40"`` (one seed), ``"22-35 of 40"``.

        Example:
            >>> Row("k", "k", 0.1, (1.0,), (1.0,), (0.0,), (1.0,), (30, 22), 40).scored_cell()
            '22-30 of 40'
        """
        low, high = min(self.scored_epochs, default=0), max(self.scored_epochs, default=0)
        return f"{low if low == high else f'{low}-{high}'} of {self.epochs}"

    def means(self) -> dict[str, Any]:
        """``{"label", "target", "kept", "lost"}``, as :func:`verdict` reads them."""
        return {"label": self.label, "target": _mean(self.target), "kept": _mean(self.kept),
                "lost": _mean(self.lost)}


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


def _cell(values: Sequence[float], digits: int = 3) -> str:
    text = f"{_mean(values):.{digits}f}"
    if len(values) > 1:  # on a line of its own: the table fits 80 columns
        text += f"\n± {statistics.stdev(values):.{digits}f}"
    return text


def summarize(results: Mapping[str, Sequence[Result]]) -> dict[str, Row]:
    """Each strategy's results (one per seed) as a :class:`Row`, in the same order."""
    return {
        key: Row(
            key=key,
            label=rs[0].label,
            lr=rs[0].lr,
            target=tuple(r.target_accuracy for r in rs),
            kept=tuple(r.source_after for r in rs),
            lost=tuple(r.source_lost for r in rs),
            seconds=tuple(r.seconds for r in rs),
            scored_epochs=tuple(r.best_epoch for r in rs),
            epochs=max(r.epochs for r in rs),
        )
        for key, rs in results.items()
    }


def scored(settings: Settings) -> str:
    """Which epoch's weights the numbers are of, in words.

    Example:
        >>> scored(Settings()), scored(Settings(restore_best=False))
        ('best epoch by val_loss', 'last epoch')
    """
    return f"best epoch by {MONITOR}" if settings.restore_best else "last epoch"


def results_table(rows: Mapping[str, Row], settings: Settings, repeats: int) -> Table:
    """The comparison table: target accuracy, source accuracy kept and lost, the epoch
    whose weights were scored, wall time."""
    seed = settings.seed
    seeds = f"seed {seed}" if repeats == 1 else f"seeds {seed}-{seed + repeats - 1}, mean ± std"
    table = Table(
        title=f"Digits 5-9 from {settings.labels_per_class} labels per class, "
              f"{settings.epochs} epochs each ({seeds})",
        title_justify="left",
        caption=f"The numbers of each run's {scored(settings)}"
                + (" (its weights restored at the end, as Keras' EarlyStopping("
                   "restore_best_weights=True) does)" if settings.restore_best else "") + ".",
        caption_justify="left",
    )
    # the strategy wraps on narrow terminals; the numbers do not
    table.add_column("strategy", ratio=1, min_width=14)
    for header in ("rate", "target\naccuracy", "source\nkept", "source\nlost", "epoch\nscored",
                   "wall\ntime"):
        table.add_column(header, justify="right", no_wrap=True,
                         min_width=max(len(h) for h in header.split("\n")))
    for key, row in rows.items():
        table.add_row(
            escape(row.label), f"{row.lr:g}", _cell(row.target), _cell(row.kept),
            _cell(row.lost), row.scored_cell(), f"{_mean(row.seconds):.1f} s",
            style="bold" if key == PROGRESSIVE else None,
        )
    return table


def verdict(rows: Mapping[str, Mapping[str, Any]], tie: float = TIE) -> list[str]:
    """Plain sentences comparing the progressive run with each baseline, from the numbers.

    ``rows`` maps a strategy key to ``{"label", "target", "kept", "lost"}`` (means, as
    :meth:`Row.means` gives). The target accuracies are compared with a tolerance of
    ``tie``; nothing is claimed that the numbers do not show.

    Example:
        >>> rows = {"progressive": {"label": "p", "target": 0.90, "kept": 0.97, "lost": 0.03},
        ...         "unfreeze_all": {"label": "all", "target": 0.93, "kept": 0.2, "lost": 0.8}}
        >>> print("\\n".join(verdict(rows)))
        Target accuracy: progressive 0.900 is below all (0.930, -0.030).
        Source task: progressive keeps 0.970, all keeps 0.200 (progressive forgets 0.770 less).
    """
    mine = rows.get(PROGRESSIVE)
    others = {k: v for k, v in rows.items() if k != PROGRESSIVE}
    if mine is None or not others:
        return []
    parts = []
    for row in others.values():
        diff = mine["target"] - row["target"]
        if abs(diff) <= tie:
            parts.append(f"ties with {row['label']} ({row['target']:.3f}, {diff:+.3f})")
        elif diff > 0:
            parts.append(f"beats {row['label']} ({row['target']:.3f}, {diff:+.3f})")
        else:
            parts.append(f"is below {row['label']} ({row['target']:.3f}, {diff:+.3f})")
    out = [f"Target accuracy: progressive {mine['target']:.3f} " + "; ".join(parts) + "."]
    forget = []
    for row in others.values():
        if row["lost"] <= 0 and mine["lost"] <= 0:
            continue
        delta = row["lost"] - mine["lost"]
        word = "less" if delta >= 0 else "more"
        forget.append(
            f"{row['label']} keeps {row['kept']:.3f} (progressive forgets {abs(delta):.3f} {word})"
        )
    if forget:
        out.append(f"Source task: progressive keeps {mine['kept']:.3f}, " + "; ".join(forget) + ".")
    return out


def writers(
    out: Path,
    results: Mapping[str, Sequence[Result]],
    schedule: Schedule,
    settings: Settings,
    repeats: int,
    model: Any = None,
    *,
    pictures: bool = True,
) -> list[Writer]:
    """The files of a run in the folder ``out``, in the order to write them: the first
    progressive run's ``history.json``, every result in ``results.json``, the
    ``schedule.json``, when given the ``model.keras`` and, with ``pictures``, the
    ``timeline.png`` and, with more than one strategy, the comparison figure."""
    progressive = results[PROGRESSIVE][0]
    seeds = (f"seed {settings.seed}" if repeats == 1
             else f"seeds {settings.seed}-{settings.seed + repeats - 1}")

    def history() -> list[Path]:
        return [_write_json(out / "history.json", progressive.history, indent=1)]

    def summary() -> list[Path]:
        return [_write_json(out / "results.json", _summary(results, schedule, settings, repeats))]

    def schedule_file() -> list[Path]:
        return [_write_json(out / "schedule.json", schedule.to_config())]

    def model_file() -> list[Path]:
        model.save(out / "model.keras")
        return [out / "model.keras"]

    def timeline() -> list[Path]:
        picture = plot_timeline(
            Timeline.from_history(progressive.history, source="unfreeze demo"),
            out / "timeline.png",
            title=f"unfreeze demo: digits 0-4 → 5-9, {settings.labels_per_class} labels per "
                  f"class, {progressive.label}, seed {settings.seed}",
        )
        return [picture]

    def comparison() -> list[Path]:
        return draw_comparison(
            results, out / COMPARISON, scored=scored(settings),
            curves_of=f"seed {settings.seed}" if repeats > 1 else "",
            title=f"unfreeze demo: digits 0-4 → 5-9 from {settings.labels_per_class} labels "
                  f"per class, {settings.epochs} epochs each ({seeds})",
        )

    found: list[Writer] = [("history.json", history), ("results.json", summary),
                           ("schedule.json", schedule_file)]
    if model is not None:
        found.append(("model.keras", model_file))
    if pictures:
        found.append(("timeline.png", timeline))
        if len(results) > 1:
            found.append((COMPARISON, comparison))
    return found


def write_outputs(
    out: Path,
    results: Mapping[str, Sequence[Result]],
    schedule: Schedule,
    settings: Settings,
    repeats: int,
    model: Any = None,
    *,
    pictures: bool = True,
) -> list[Path]:
    """Write every file of :func:`writers`; the paths written."""
    return [path for _, write in writers(out, results, schedule, settings, repeats, model,
                                         pictures=pictures) for path in write()]


def _write_json(path: Path, data: Any, indent: int = 2) -> Path:
    path.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")
    return path


def _summary(
    results: Mapping[str, Sequence[Result]], schedule: Schedule, settings: Settings, repeats: int
) -> dict[str, Any]:
    return {
        "settings": {**attrs.asdict(settings), "repeats": repeats,
                     "steps_per_epoch": settings.steps_per_epoch},
        "scored": scored(settings),
        "schedule": schedule.to_config(),
        "results": {k: [r.to_dict() for r in rs] for k, rs in results.items()},
        "mean": {
            k: {
                "label": rs[0].label,
                "target_accuracy": _mean([r.target_accuracy for r in rs]),
                "source_accuracy_after": _mean([r.source_after for r in rs]),
                "source_accuracy_lost": _mean([r.source_lost for r in rs]),
                "seconds": _mean([r.seconds for r in rs]),
            }
            for k, rs in results.items()
        },
    }
