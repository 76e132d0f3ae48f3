"""The timeline of a run as a picture (the ``plot`` extra: ``pip install "unfreeze-core[plot]"``).

:func:`plot_timeline` draws a :class:`~unfreeze_core.timeline.Timeline` with matplotlib's
Agg backend (no display needed) into a PNG, SVG or PDF fit for a report: a strip naming
every stage ("stage 2", and how many groups train) over panels that share the epochs —
the losses (log scale when they span decades, the monitored one's best epoch starred),
the other metrics, each group's rate at the epoch's last step (log scale), and the
trainable parameters (log scale, so a head of a few hundred parameters does not look
like zero). Stages alternate white and grey in every panel, and a dashed line at each
stage change is labelled with the group(s) it unfroze. Colours are Okabe and Ito's
palette (distinct under the common colour-vision deficiencies, no yellow on a pale
band); line styles differ too, so the figure survives greyscale.

matplotlib is imported when a picture is drawn, not when this module is imported, so
that commands which may draw (``unfreeze plan --plot``) start fast and work without it
until asked for a picture. Without matplotlib, drawing raises a
``ModuleNotFoundError`` that names the extra to install; :func:`require_matplotlib`
checks for it up front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .timeline import HistoryError, Timeline, human

__all__ = [
    "FORMATS", "MISSING_MATPLOTLIB", "OKABE_ITO", "picture_format", "plot_timeline",
    "require_matplotlib",
]

MISSING_MATPLOTLIB = (
    "drawing a timeline needs matplotlib, which is not installed; install it with "
    'pip install "unfreeze-core[plot]"'
)

FORMATS = ("png", "svg", "pdf")
"""The picture formats :func:`plot_timeline` writes, chosen by the file's suffix."""

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe and Ito's colour-blind-safe palette, without its yellow (too pale on white)."""

_STYLES = ("-", "--", "-.", ":")
_HEIGHTS = {"strip": 0.55, "loss": 2.6, "metrics": 2.1, "rates": 2.6, "trainable": 1.8,
            "stages": 0.8}
_BAND = ("#FFFFFF", "#EBEBEB")  # alternate stages
_EDGE = "#333333"


def require_matplotlib() -> Any:
    """matplotlib's ``pyplot`` on the Agg backend.

    Raises:
        ModuleNotFoundError: matplotlib is not installed; the message says how to get it.
    """
    try:
        # matplotlib is an optional heavy dependency (the plot extra): imported on use
        import matplotlib
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(MISSING_MATPLOTLIB, name="matplotlib") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def picture_format(path: str | Path) -> str:
    """The format of the picture file ``path``, from its suffix.

    Raises:
        HistoryError: not one of ``FORMATS`` (png, svg, pdf).

    Example:
        >>> picture_format("run/timeline.svg")
        'svg'
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise HistoryError(
            f"{path}: a timeline is written as {', '.join(FORMATS[:-1])} or {FORMATS[-1]}; "
            "give a file name ending in .png, .svg or .pdf"
        )
    return suffix


def plot_timeline(
    timeline: Timeline,
    path: str | Path,
    *,
    title: str | None = None,
    metrics: Sequence[str] | None = None,
    dpi: int = 200,
) -> Path:
    """Draw ``timeline`` into ``path`` (its folder must exist): PNG, SVG or PDF by suffix.

    A strip naming each stage over panels that share the epoch axis and the stage bands:
    losses; other metrics (accuracy, ...); each group's rate (log scale; a line starts
    when its group unfreezes); the trainable parameters (log scale). Panels without data
    are left out.

    Args:
        timeline: the data.
        path: the picture to write (``.png``, ``.svg`` or ``.pdf``).
        title: the figure's title (default: from ``timeline.source``).
        metrics: which metrics to draw (default: all).
        dpi: resolution of a PNG (200: 2000 pixels wide, for print).

    Returns:
        ``path`` as a ``pathlib.Path``.

    Raises:
        HistoryError: a metric asked for is not in the timeline, there is no epoch, or
            the suffix is not a known format.
        ModuleNotFoundError: matplotlib is not installed.
    """
    if timeline.n_epochs == 0:
        raise HistoryError("the history has no epoch to draw")
    fmt = picture_format(path)
    chosen = list(timeline.metrics) if metrics is None else list(metrics)
    missing = [m for m in chosen if m not in timeline.metrics]
    if missing:
        raise HistoryError(
            f"no metric {', '.join(map(repr, missing))} in the history; it holds: "
            f"{', '.join(sorted(timeline.metrics)) or '(no metrics)'}"
        )
    plt = require_matplotlib()
    from matplotlib.ticker import MaxNLocator  # part of matplotlib, loaded just above

    losses = [m for m in chosen if "loss" in m]
    others = [m for m in chosen if "loss" not in m]
    panels = ["strip", *_panels(timeline, losses, others)]
    fig, axes = plt.subplots(
        len(panels), 1, sharex=True, squeeze=False, layout="constrained",
        figsize=(10.0, 0.9 + sum(_HEIGHTS[p] for p in panels)),
        gridspec_kw={"height_ratios": [_HEIGHTS[p] for p in panels]},
    )
    axs = [a[0] for a in axes]
    _draw_bands(axs[1:], timeline)
    for ax, panel in zip(axs, panels, strict=True):
        if panel == "strip":
            _draw_strip(ax, timeline)
        elif panel == "loss":
            _draw_metrics(ax, timeline, losses)
            ax.set_ylabel("loss")
            finite = [v for m in losses for v in timeline.metrics[m] if math.isfinite(v) and v > 0]
            if finite and max(finite) / min(finite) > 20:
                ax.set_yscale("log")
        elif panel == "metrics":
            _draw_metrics(ax, timeline, others)
            ax.set_ylabel("metrics")
        elif panel == "rates":
            _draw_rates(ax, timeline)
        elif panel == "trainable":
            _draw_trainable(ax, timeline)
        else:
            ax.set_yticks([])
    if len(axs) > 1:
        _label_unfreezes(axs[1], timeline)
    axs[-1].set_xlabel("epoch")
    axs[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axs[-1].set_xlim(0.5, timeline.n_epochs + 0.5)
    where = f": {timeline.source}" if timeline.source else ""
    fig.suptitle(title or f"Progressive unfreezing timeline{where}", fontsize=12)
    path = Path(path)
    fig.savefig(path, dpi=dpi, format=fmt)
    plt.close(fig)
    return path


def _panels(timeline: Timeline, losses: list[str], others: list[str]) -> list[str]:
    panels: list[str] = []
    if losses:
        panels.append("loss")
    if others:
        panels.append("metrics")
    if any(any(v > 0 for v in vals) for vals in timeline.rates.values()):
        panels.append("rates")
    if timeline.trainable_params is not None:
        panels.append("trainable")
    return panels or ["stages"]


def _draw_bands(axs: list[Any], timeline: Timeline) -> None:
    """Every panel: stages alternately white and grey, a dashed line where one begins."""
    for ax in axs:
        for j, (a, b, _) in enumerate(timeline.bands()):
            ax.axvspan(a + 0.5, b + 1.5, color=_BAND[j % 2], lw=0, zorder=0)
            if j:
                ax.axvline(a + 0.5, color=_EDGE, lw=1.0, ls=(0, (4, 2)), zorder=1)
        ax.grid(True, axis="y", color="#BBBBBB", lw=0.5, alpha=0.7)
        ax.margins(x=0)


def _draw_strip(ax: Any, timeline: Timeline) -> None:
    """The top strip: one box per stage, each labelled; a narrow one vertically."""
    from matplotlib.patches import Rectangle  # matplotlib is loaded by plot_timeline

    fig_width = ax.figure.get_size_inches()[0] * 0.85  # the axes' share, roughly
    per_epoch = fig_width / max(timeline.n_epochs, 1)
    of = f"/{timeline.n_groups}" if timeline.n_groups else ""
    for j, (a, b, groups) in enumerate(timeline.bands()):
        ax.add_patch(Rectangle((a + 0.5, 0), b - a + 1, 1, facecolor=_BAND[j % 2],
                               edgecolor=_EDGE, lw=0.8, hatch="//" if j % 2 else None))
        number = int(timeline.stage_index[a]) + 1
        count = f"{groups:.0f}{of} groups trainable" if math.isfinite(groups) else ""
        label = f"stage {number}" + (f"\n{count}" if count else "")
        room = (b - a + 1) * per_epoch  # inches

        def fits(text: str, room: float = room) -> bool:  # 8-point text, with a margin
            return room >= 0.06 * max(len(s) for s in text.split("\n")) + 0.12

        label = label if fits(label) else f"stage {number}"
        upright = fits(label)
        ax.text((a + b) / 2 + 1, 0.5, label, ha="center", va="center",
                fontsize=8 if upright else 7, rotation=0 if upright else 90,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.8, "alpha": 0.9})
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.tick_params(axis="x", length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _label_unfreezes(ax: Any, timeline: Timeline) -> None:
    """At each stage change: the group(s) it unfroze, along the dashed line."""
    for a, _, _ in timeline.bands()[1:]:
        names = timeline.newly_trainable(a)
        if len(names) == 1:
            text = f"unfreezes {_short(names[0])}"
        elif names:
            text = f"unfreezes {len(names)} groups" if len(names) > 2 else \
                "unfreezes " + ", ".join(_short(n) for n in names)
        else:
            text = f"stage {int(timeline.stage_index[a]) + 1}"
        ax.text(a + 0.5, 0.97, text, transform=ax.get_xaxis_transform(), rotation=90,
                ha="right", va="top", fontsize=7.5, color=_EDGE, zorder=6,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85})


def _draw_metrics(ax: Any, timeline: Timeline, names: list[str]) -> None:
    epochs = list(range(1, timeline.n_epochs + 1))
    for k, name in enumerate(names):
        values = timeline.metrics[name]
        xs = epochs[: len(values)]
        is_monitor = name == timeline.monitor
        label = name + (" (monitored)" if is_monitor else "")
        ax.plot(xs, values, lw=2.4 if is_monitor else 1.5, label=label,
                color=OKABE_ITO[k % len(OKABE_ITO)], ls=_STYLES[k % len(_STYLES)],
                marker="o" if len(xs) <= 30 else None, ms=3, zorder=3)
        best = timeline.best_epoch(name) if is_monitor else None
        if best is not None:
            ax.plot([xs[best]], [values[best]], marker="*", ms=15, color="black",
                    markeredgecolor="white", zorder=5, ls="none",
                    label=f"best {name} (epoch {xs[best]})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _draw_rates(ax: Any, timeline: Timeline) -> None:
    epochs = list(range(1, timeline.n_epochs + 1))
    names = list(timeline.rates)
    many = len(names) > len(OKABE_ITO)
    from matplotlib import colormaps  # matplotlib is loaded by plot_timeline

    cmap = colormaps["cividis"]  # beyond 7 groups: dark input side, light head
    for g, name in enumerate(names):
        vals = [v if v > 0 else float("nan") for v in timeline.rates[name]]
        top = len(names) - 1 - g  # the head first: blue and solid whatever the count
        color = cmap(0.85 * g / max(len(names) - 1, 1)) if many else OKABE_ITO[top]
        ax.plot(epochs[: len(vals)], vals, color=color, lw=1.8, drawstyle="steps-mid",
                ls=_STYLES[top % len(_STYLES)] if not many else "-", zorder=3,
                label=_short(name) if not many else None)
    if many:
        ax.text(1.01, 1.0, f"{len(names)} groups:\ndark = input side\nlight = head",
                transform=ax.transAxes, fontsize=8, va="top")
    else:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="group (input first)", title_fontsize=8)
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_ylabel(timeline.rate_label + "\n(epoch's last step)")


def _plain_log_ticks(ax: Any) -> None:
    """Log-axis ticks as plain numbers (``0.001``, ``0.5``), not ``5 x 10^-1``."""
    from matplotlib.ticker import FuncFormatter  # matplotlib is loaded by plot_timeline

    low, high = ax.get_ylim()
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    if high / max(low, 1e-300) < 10:  # less than a decade: label the minor ticks too
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _draw_trainable(ax: Any, timeline: Timeline) -> None:
    from matplotlib.ticker import FuncFormatter  # matplotlib is loaded by plot_timeline

    params = timeline.trainable_params
    assert params is not None
    epochs = list(range(1, timeline.n_epochs + 1))
    ax.step(epochs, params, where="mid", color=OKABE_ITO[3], lw=2, zorder=3)
    finite = [p for p in params if math.isfinite(p) and p > 0]
    if finite:
        ax.set_yscale("log")
        ax.set_ylim(min(finite) / 3, max(finite) * 6)
    per_epoch = ax.figure.get_size_inches()[0] * 0.85 / max(timeline.n_epochs, 1)
    right = -math.inf  # where the previous label ends, in epochs
    for a, _, _ in timeline.bands():
        text = human(params[a])
        if not (math.isfinite(params[a]) and params[a] > 0):
            continue
        width = (0.09 * len(text) + 0.05) / per_epoch  # the label's width in epochs
        below = a + 0.6 < right  # would touch the previous label: put it under the line
        ax.annotate(text, (a + 0.6, params[a]), xytext=(2, -4 if below else 3),
                    textcoords="offset points", fontsize=8, color=OKABE_ITO[3],
                    va="top" if below else "bottom", zorder=4)
        right = max(right, a + 0.6 + width) if not below else right
    ax.set_ylabel("trainable\nparameters")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v).replace(".0", "")))
