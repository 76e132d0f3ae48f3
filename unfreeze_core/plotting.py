"""The timeline of a run as a picture (the ``plot`` extra: ``pip install "unfreeze-core[plot]"``).

:func:`plot_timeline` draws a :class:`~unfreeze_core.timeline.Timeline` with matplotlib's
Agg backend (no display needed) into a PNG: the stages as coloured bands over the epochs,
the monitored metrics, each group's learning rate, and the number of trainable
parameters.

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

__all__ = ["MISSING_MATPLOTLIB", "plot_timeline", "require_matplotlib"]

MISSING_MATPLOTLIB = (
    "drawing a timeline needs matplotlib, which is not installed; install it with "
    'pip install "unfreeze-core[plot]"'
)

_HEIGHTS = {"loss": 2.4, "metrics": 2.0, "rates": 2.4, "trainable": 1.5, "stages": 1.0}


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


def plot_timeline(
    timeline: Timeline,
    path: str | Path,
    *,
    title: str | None = None,
    metrics: Sequence[str] | None = None,
    dpi: int = 110,
) -> Path:
    """Draw ``timeline`` into the PNG file ``path`` (its folder must exist).

    Panels, sharing the epoch axis and the stage bands: losses; other metrics (accuracy,
    ...); each group's rate (log scale; a line starts when its group unfreezes); the
    trainable parameters. Panels without data are left out.

    Args:
        timeline: the data.
        path: the PNG to write.
        title: the figure's title (default: from ``timeline.source``).
        metrics: which metrics to draw (default: all).
        dpi: resolution.

    Returns:
        ``path`` as a ``pathlib.Path``.

    Raises:
        HistoryError: a metric asked for is not in the timeline, or there is no epoch.
        ModuleNotFoundError: matplotlib is not installed.
    """
    if timeline.n_epochs == 0:
        raise HistoryError("the history has no epoch to draw")
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
    panels = _panels(timeline, losses, others)
    fig, axes = plt.subplots(
        len(panels), 1, sharex=True, figsize=(9.0, 1.0 + sum(_HEIGHTS[p] for p in panels)),
        gridspec_kw={"height_ratios": [_HEIGHTS[p] for p in panels]}, squeeze=False,
    )
    axs = [a[0] for a in axes]
    _draw_bands(axs, timeline, plt.get_cmap("Blues"))
    for ax, panel in zip(axs, panels, strict=True):
        if panel == "loss":
            _draw_metrics(ax, timeline, losses)
            ax.set_ylabel("loss")
            finite = [v for m in losses for v in timeline.metrics[m] if math.isfinite(v) and v > 0]
            if finite and max(finite) / min(finite) > 50:
                ax.set_yscale("log")
        elif panel == "metrics":
            _draw_metrics(ax, timeline, others)
            ax.set_ylabel("metrics")
        elif panel == "rates":
            _draw_rates(ax, timeline, plt.get_cmap("viridis"))
        elif panel == "trainable":
            _draw_trainable(ax, timeline)
        else:
            ax.set_yticks([])
    axs[-1].set_xlabel("epoch")
    axs[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axs[-1].set_xlim(0.5, timeline.n_epochs + 0.5)
    where = f": {timeline.source}" if timeline.source else ""
    fig.suptitle(title or f"Progressive unfreezing timeline{where}", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
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


def _draw_bands(axs: list[Any], timeline: Timeline, shades: Any) -> None:
    """Every panel: one band per stage, darker as more of the model trains, a thin line
    where a stage begins; the top panel: each stage's label."""
    bands = timeline.bands()
    most = max((g for _, _, g in bands), default=1.0)
    scale = float(timeline.n_groups or most or 1.0)
    for ax in axs:
        for j, (a, b, groups) in enumerate(bands):
            ax.axvspan(a + 0.5, b + 1.5, color=shades(0.04 + 0.24 * groups / scale), lw=0)
            if j:
                ax.axvline(a + 0.5, color="tab:blue", lw=0.8, alpha=0.7)
        ax.grid(True, axis="y", alpha=0.3)
        ax.margins(x=0)
    top = axs[0]
    of = f"/{timeline.n_groups}" if timeline.n_groups else ""
    for j, (a, b, groups) in enumerate(bands):
        width = (b - a + 1) / timeline.n_epochs
        if width >= 0.14:
            label = f"stage {j + 1}\n{groups:.0f}{of} groups"
        else:
            label = f"{j + 1}" if width < 0.06 else f"stage\n{j + 1}"
        top.text((a + b) / 2 + 1, 1.02, label, transform=top.get_xaxis_transform(),
                 ha="center", va="bottom", fontsize=8)


def _draw_metrics(ax: Any, timeline: Timeline, names: list[str]) -> None:
    epochs = list(range(1, timeline.n_epochs + 1))
    for name in names:
        values = timeline.metrics[name]
        xs = epochs[: len(values)]
        is_monitor = name == timeline.monitor
        label = name + (" (monitored)" if is_monitor else "")
        ax.plot(xs, values, lw=2.4 if is_monitor else 1.3, label=label,
                marker="o" if len(xs) <= 30 else None, ms=2.5)
        best = timeline.best_epoch(name) if is_monitor else None
        if best is not None:
            ax.plot([xs[best]], [values[best]], marker="*", ms=13, color="black", zorder=5,
                    label=f"best {name} (epoch {xs[best]})")
    ax.legend(fontsize=8, loc="best", framealpha=0.85)


def _draw_rates(ax: Any, timeline: Timeline, cmap: Any) -> None:
    epochs = list(range(1, timeline.n_epochs + 1))
    names = list(timeline.rates)
    for g, name in enumerate(names):
        vals = [v if v > 0 else float("nan") for v in timeline.rates[name]]
        color = cmap(g / max(len(names) - 1, 1))
        ax.plot(epochs[: len(vals)], vals, color=color, lw=1.6,
                label=name if len(names) <= 10 else None, drawstyle="steps-mid")
    if len(names) > 10:
        ax.text(0.01, 0.04, f"{len(names)} groups: dark = input side, yellow = head",
                transform=ax.transAxes, fontsize=8)
    else:
        ax.legend(fontsize=8, loc="best", framealpha=0.85,
                  title="group (input first)", title_fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(timeline.rate_label)


def _draw_trainable(ax: Any, timeline: Timeline) -> None:
    from matplotlib.ticker import FuncFormatter  # matplotlib is loaded by plot_timeline

    params = timeline.trainable_params
    assert params is not None
    epochs = list(range(1, timeline.n_epochs + 1))
    ax.step(epochs, params, where="mid", color="tab:purple", lw=2)
    for a, _, _ in timeline.bands():
        ax.annotate(human(params[a]), (a + 0.6, params[a]), xytext=(2, 3),
                    textcoords="offset points", fontsize=8, color="tab:purple")
    ax.set_ylabel("trainable\nparameters")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
    ax.set_ylim(bottom=0, top=max(params) * 1.25 or 1.0)
