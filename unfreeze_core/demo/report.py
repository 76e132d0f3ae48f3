"""What the demo reports: the comparison table, the verdict in words, the files it writes.

Plain Python over :class:`~unfreeze_core.demo.strategies.Result` records (no Keras):
:func:`summarize` reduces each strategy's results over seeds, :func:`results_table`
shows them, :func:`verdict` says what they show and nothing more, and
:func:`write_outputs` writes the history, the timeline picture, the results and the
schedule of a run.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.markup import escape
from rich.table import Table

from ..plotting import plot_timeline
from ..schedule import Schedule
from ..timeline import Timeline
from .strategies import PROGRESSIVE, STRATEGIES, Result, Settings

__all__ = ["TIE", "Row", "results_table", "summarize", "verdict", "write_outputs"]

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

    def means(self) -> dict[str, Any]:
        """``{"label", "target", "kept", "lost"}``, as :func:`verdict` reads them."""
        return {"label": self.label, "target": _mean(self.target), "kept": _mean(self.kept),
                "lost": _mean(self.lost)}


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


def _cell(values: Sequence[float], digits: int = 3) -> str:
    text = f"{_mean(values):.{digits}f}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.{digits}f}"
    return text


def summarize(results: Mapping[str, Sequence[Result]]) -> dict[str, Row]:
    """Each strategy's results (one per seed) as a :class:`Row`, in the same order."""
    return {
        key: Row(
            key=key,
            label=STRATEGIES[key].label,
            lr=rs[0].lr,
            target=tuple(r.target_accuracy for r in rs),
            kept=tuple(r.source_after for r in rs),
            lost=tuple(r.source_lost for r in rs),
            seconds=tuple(r.seconds for r in rs),
        )
        for key, rs in results.items()
    }


def results_table(rows: Mapping[str, Row], settings: Settings, repeats: int) -> Table:
    """The comparison table: target accuracy, source accuracy kept and lost, wall time."""
    seed = settings.seed
    seeds = f"seed {seed}" if repeats == 1 else f"seeds {seed}-{seed + repeats - 1}, mean ± std"
    table = Table(
        title=f"Digits 5-9 from {settings.labels_per_class} labels per class, "
              f"{settings.epochs} epochs each ({seeds})",
        title_justify="left",
    )
    table.add_column("strategy")
    table.add_column("rate", justify="right")
    table.add_column("target accuracy", justify="right")
    table.add_column("source accuracy kept", justify="right")
    table.add_column("source lost", justify="right")
    table.add_column("wall time", justify="right")
    for key, row in rows.items():
        table.add_row(
            escape(row.label), f"{row.lr:g}", _cell(row.target), _cell(row.kept),
            _cell(row.lost), f"{_mean(row.seconds):.1f} s",
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


def write_outputs(
    out: Path,
    results: Mapping[str, Sequence[Result]],
    schedule: Schedule,
    settings: Settings,
    repeats: int,
    model: Any = None,
) -> list[Path]:
    """Write the first progressive run's ``history.json`` and ``timeline.png``, every
    result in ``results.json``, the ``schedule.json`` and, when given, ``model.keras``
    into the folder ``out``; the paths written."""
    progressive = results[PROGRESSIVE][0]
    history = out / "history.json"
    history.write_text(json.dumps(progressive.history, indent=1) + "\n", encoding="utf-8")
    timeline = Timeline.from_history(progressive.history, source="unfreeze demo")
    picture = plot_timeline(
        timeline, out / "timeline.png",
        title=f"unfreeze demo: digits 0-4 -> 5-9, {settings.labels_per_class} labels per class, "
              f"seed {settings.seed}",
    )
    schedule_path = out / "schedule.json"
    schedule_path.write_text(json.dumps(schedule.to_config(), indent=2) + "\n", encoding="utf-8")
    summary = {
        "settings": {**attrs.asdict(settings), "repeats": repeats,
                     "steps_per_epoch": settings.steps_per_epoch},
        "schedule": schedule.to_config(),
        "results": {k: [r.to_dict() for r in rs] for k, rs in results.items()},
        "mean": {
            k: {
                "target_accuracy": _mean([r.target_accuracy for r in rs]),
                "source_accuracy_after": _mean([r.source_after for r in rs]),
                "source_accuracy_lost": _mean([r.source_lost for r in rs]),
                "seconds": _mean([r.seconds for r in rs]),
            }
            for k, rs in results.items()
        },
    }
    results_path = out / "results.json"
    results_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    files = [history, picture, results_path, schedule_path]
    if model is not None:
        model_path = out / "model.keras"
        model.save(model_path)
        files.append(model_path)
    return files
