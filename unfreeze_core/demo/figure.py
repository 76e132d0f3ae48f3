"""The ``--compare`` figure: every strategy in one picture (the ``plot`` extra).

Two panels: the validation accuracy on the target task at every epoch, one line per
strategy (the progressive run's unfreezes marked and named, each strategy's scored epoch
starred), and bars of what each strategy ends with: target test accuracy and source
accuracy kept. The palette is Okabe and Ito's, which stays distinct under the common
colour-vision deficiencies; line styles differ too, so the figure survives greyscale.

matplotlib is imported when a figure is drawn, not when this module is imported;
:func:`has_matplotlib` checks for it without drawing.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..plotting import require_matplotlib
from ..timeline import LOG_LR
from .strategies import PROGRESSIVE, Result

__all__ = ["PALETTE", "draw_comparison", "has_matplotlib", "unfreeze_events"]

PALETTE = {
    "progressive": "#0072B2",  # blue
    "head_only": "#E69F00",  # orange
    "unfreeze_all": "#D55E00",  # vermillion
    "unfreeze_all_low_lr": "#009E73",  # bluish green
}
"""Okabe-Ito colours per strategy key (others get the remaining Okabe-Ito colours)."""

_SPARE = ("#CC79A7", "#56B4E9", "#F0E442", "#000000")
_STYLES = ("-", "--", "-.", ":")


def has_matplotlib() -> bool:
    """Whether matplotlib can be imported (the ``plot`` extra is installed)."""
    try:
        # an optional heavy dependency: checked here, drawn with later
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def unfreeze_events(history: Mapping[str, Sequence[float]]) -> list[tuple[int, list[str]]]:
    """``(epoch, groups)`` for each unfreeze in a driver's history: the first epoch
    (1-based) in which the groups start training (their logged rate turns from 0 to
    more), read from the per-group rates alone, whatever the stage keys are called.

    Example:
        >>> h = {"unfreeze_lr/head": [.1, .1, .1, .1], "unfreeze_lr/body": [0, 0, .01, .05]}
        >>> unfreeze_events(h)
        [(3, ['body'])]
    """
    rates = {k[len(LOG_LR):]: list(v) for k, v in history.items() if k.startswith(LOG_LR)}
    epochs = max((len(r) for r in rates.values()), default=0)
    events = []
    for e in range(1, epochs):
        new = [g for g, r in rates.items() if len(r) > e and r[e - 1] == 0 and r[e] > 0]
        if new:
            events.append((e + 1, new))
    return events


def _short(group: str) -> str:
    return group.rsplit("/", 1)[-1]


def draw_comparison(
    results: Mapping[str, Sequence[Result]],
    path: str | Path,
    *,
    title: str,
    scored: str,
    curves_of: str = "",
    dpi: int = 200,
) -> list[Path]:
    """Draw the comparison of ``results`` (strategy key -> one result per seed) into the
    PNG ``path`` and an SVG beside it; the paths written.

    The curves are the first seed's; the bars are means over the seeds, with the standard
    deviation as error bars when there are several. ``scored`` says which epoch's weights
    the bars show (e.g. "best epoch by val_loss"), ``curves_of`` which run the curves
    are (e.g. "seed 0", when there are several).
    """
    plt = require_matplotlib()
    path = Path(path)
    keys = list(results)
    colours = {k: PALETTE.get(k) or _SPARE[i % len(_SPARE)] for i, k in enumerate(keys)}
    with plt.rc_context({"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.fonttype": "none"}):
        fig, (curves, bars) = plt.subplots(
            1, 2, figsize=(10.5, 4.4), gridspec_kw={"width_ratios": [1.45, 1]},
            layout="constrained",
        )
        for i, key in enumerate(keys):
            _draw_curve(curves, results[key][0], colours[key], _STYLES[i % len(_STYLES)],
                        bold=key == PROGRESSIVE)
        progressive = results.get(PROGRESSIVE)
        if progressive:
            _mark_unfreezes(curves, progressive[0].history, colours[PROGRESSIVE])
        curves.set_xlabel("epoch")
        curves.set_ylabel("validation accuracy (digits 5-9)")
        of = f", {curves_of}" if curves_of else ""
        curves.set_title(f"Target task while fine-tuning{of} (★ = epoch scored)", loc="left")
        curves.grid(alpha=0.3)
        curves.legend(loc="center right", frameon=True, framealpha=0.9, edgecolor="none")
        _draw_bars(bars, results, colours)
        bars.set_title(f"After fine-tuning ({scored})", loc="left")
        fig.suptitle(title, x=0.01, ha="left", fontsize=11)
        fig.savefig(path, dpi=dpi)
        svg = path.with_suffix(".svg")
        fig.savefig(svg)
        plt.close(fig)
    return [path, svg]


def _draw_curve(ax: Any, result: Result, colour: str, style: str, *, bold: bool) -> None:
    acc = result.history.get("val_accuracy", [])
    epochs = range(1, len(acc) + 1)
    ax.plot(epochs, acc, style, color=colour, lw=2.2 if bold else 1.5,
            label=result.label, zorder=3 if bold else 2)
    if 1 <= result.best_epoch <= len(acc):
        ax.plot([result.best_epoch], [acc[result.best_epoch - 1]], "*",
                color=colour, ms=13, mec="black", mew=0.6, zorder=4)


def _mark_unfreezes(ax: Any, history: Mapping[str, Sequence[float]], colour: str) -> None:
    for epoch, groups in unfreeze_events(history):
        x = epoch - 0.5  # between the last epoch of a stage and the first of the next
        ax.axvline(x, color=colour, lw=0.9, ls=":", alpha=0.8, zorder=1)
        label = "+" + ", ".join(_short(g) for g in groups) if groups else "next stage"
        ax.annotate(label, (x, 0.02), xycoords=("data", "axes fraction"),
                    rotation=90, ha="right", va="bottom", fontsize=8, color=colour)


def _stats(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def _draw_bars(ax: Any, results: Mapping[str, Sequence[Result]], colours: Mapping[str, str]
               ) -> None:
    keys = list(results)
    width = 0.38
    before = statistics.fmean(r.source_before for rs in results.values() for r in rs)
    for i, key in enumerate(keys):
        rs = results[key]
        target = _stats([r.target_accuracy for r in rs])
        kept = _stats([r.source_after for r in rs])
        for offset, (mean, std), hatch, what in (
            (-width / 2, target, "", "target test accuracy (digits 5-9)"),
            (width / 2, kept, "///", "source accuracy kept (digits 0-4)"),
        ):
            ax.bar(i + offset, mean, width, yerr=std or None, color=colours[key],
                   hatch=hatch, edgecolor="white" if hatch else colours[key], lw=0,
                   label=what if i == 0 else None, capsize=3)
            ax.annotate(f"{mean:.2f}", (i + offset, mean + std), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.axhline(before, color="0.3", lw=1, ls="--",
               label=f"source accuracy before fine-tuning ({before:.2f})")
    ax.set_xticks(range(len(keys)),
                  [_wrap(results[k][0].label) for k in keys], fontsize=8)
    ax.set_ylim(0, 1.32)  # room for the legend above the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("accuracy on the test sets")
    ax.legend(loc="upper left", frameon=False, fontsize=8, ncols=1)


def _wrap(label: str) -> str:
    """Labels on two lines at their first space after 10 characters."""
    cut = label.find(" ", 10)
    return label if cut < 0 else label[:cut] + "\n" + label[cut + 1:]
