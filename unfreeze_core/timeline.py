"""The timeline of a progressive run as a picture: stages, trainable parameters, rates, metrics.

A :class:`Timeline` is plain per-epoch data. It comes either from the epoch logs the
driver writes (:meth:`Timeline.from_history`, for a Keras ``History`` or a ``CSVLogger``
file of a run with :class:`~unfreeze_core.ProgressiveUnfreezing`), or from a dry run of a
schedule over any history (:meth:`Timeline.from_dry_run`). :func:`plot_timeline` draws it
with matplotlib's Agg backend (no display needed) into a PNG: the stages as coloured bands
over the epochs, the monitored metrics, each group's learning rate, and the number of
trainable parameters.

The log keys are the driver's (see ``unfreeze_core.keras``); they are repeated here so
that reading and drawing a history does not import Keras.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .errors import UnfreezeError
from .schedule import EpochRecord

__all__ = [
    "LOG_GRAD_NORM",
    "LOG_LR",
    "LOG_STAGE",
    "LOG_STAGE_INDEX",
    "LOG_TRAINABLE",
    "HistoryError",
    "Timeline",
    "driver_keys",
    "plot_timeline",
]

LOG_STAGE = "unfreeze_stage"
LOG_STAGE_INDEX = "unfreeze_stage_index"
LOG_TRAINABLE = "unfreeze_trainable_params"
LOG_GRAD_NORM = "unfreeze_grad_norm"
LOG_LR = "unfreeze_lr/"


class HistoryError(UnfreezeError, ValueError):
    """A training history cannot be read, or lacks what was asked of it."""


def driver_keys(history: Mapping[str, Any]) -> list[str]:
    """The keys of ``history`` that the driver wrote (``unfreeze_...``)."""
    return [k for k in history if k.startswith("unfreeze_")]


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    return tuple(float("nan") if v is None else float(v) for v in values)


def _metric_keys(history: Mapping[str, Sequence[float]]) -> list[str]:
    return [k for k in history if not k.startswith("unfreeze_") and k not in ("epoch", "lr")]


@attrs.frozen
class Timeline:
    """Per-epoch data of one run (epoch ``i`` of every sequence is the ``i``-th epoch).

    Attributes:
        stages: groups trainable during each epoch.
        stage_index: advances made before each epoch (bands change where it does).
        trainable_params: trainable parameters per epoch, when known.
        rates: per group (input side first), its rate at each epoch (0 when frozen).
        rate_label: what ``rates`` are: learning rates, or multipliers of the base rate.
        metrics: the other per-epoch values of the history (losses, accuracies, ...).
        monitor: the metric the schedule watches, drawn thicker, its best epoch marked.
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        n_groups: number of groups, when known.
        source: where the data came from, for the title.
    """

    stages: tuple[float, ...]
    stage_index: tuple[float, ...]
    trainable_params: tuple[float, ...] | None = None
    rates: Mapping[str, tuple[float, ...]] = attrs.Factory(dict)
    rate_label: str = "learning rate"
    metrics: Mapping[str, tuple[float, ...]] = attrs.Factory(dict)
    monitor: str | None = None
    mode: str = "min"
    n_groups: int | None = None
    source: str = ""

    @property
    def n_epochs(self) -> int:
        return len(self.stages)

    @classmethod
    def from_history(
        cls,
        history: Mapping[str, Sequence[Any]],
        *,
        monitor: str | None = None,
        mode: str | None = None,
        source: str = "",
    ) -> Timeline:
        """A timeline from the epoch logs of a run with the driver.

        Raises:
            HistoryError: the history has no ``unfreeze_stage`` values (it was not
                recorded with ``ProgressiveUnfreezing``), or ``monitor`` is not in it.

        Example:
            >>> t = Timeline.from_history({"loss": [1.0, 0.5], "unfreeze_stage": [1, 2],
            ...                            "unfreeze_lr/head": [0.1, 0.1]})
            >>> t.n_epochs, t.stage_index, list(t.rates)
            (2, (0.0, 1.0), ['head'])
        """
        if LOG_STAGE not in history:
            found = ", ".join(sorted(history)) or "(nothing)"
            raise HistoryError(
                f"the history has no '{LOG_STAGE}' values, so it was not recorded with the "
                f"ProgressiveUnfreezing callback (it holds: {found}). To see what a schedule "
                "would have done over it, run 'unfreeze plan SCHEDULE --history FILE "
                "--plot timeline.png'."
            )
        stages = _floats(history[LOG_STAGE])
        if LOG_STAGE_INDEX in history:
            index = _floats(history[LOG_STAGE_INDEX])
        else:  # older logs: count the changes of the stage
            counted, k = [], 0.0
            for i, s in enumerate(stages):
                if i and s != stages[i - 1]:
                    k += 1
                counted.append(k)
            index = tuple(counted)
        trainable = _floats(history[LOG_TRAINABLE]) if LOG_TRAINABLE in history else None
        rates = {k[len(LOG_LR):]: _floats(v) for k, v in history.items() if k.startswith(LOG_LR)}
        metrics = {k: _floats(history[k]) for k in _metric_keys(history)}
        monitor = _check_monitor(monitor, metrics)
        return cls(
            stages=stages,
            stage_index=tuple(index),
            trainable_params=trainable,
            rates=rates,
            metrics=metrics,
            monitor=monitor,
            mode=mode or _infer_mode(monitor),
            n_groups=len(rates) or None,
            source=source,
        )

    @classmethod
    def from_dry_run(
        cls,
        records: Sequence[EpochRecord],
        group_names: Sequence[str],
        *,
        history: Mapping[str, Sequence[Any]] | None = None,
        group_params: Sequence[int] | None = None,
        monitor: str | None = None,
        mode: str | None = None,
        source: str = "",
    ) -> Timeline:
        """A timeline from :meth:`~unfreeze_core.Schedule.dry_run` records.

        ``rates`` are the LR multipliers at each epoch's first step; ``group_params``
        (from a model) gives the trainable parameters per epoch.
        """
        n = len(group_names)
        stage_index, k = [], 0.0
        for i, r in enumerate(records):
            if i and r.trainable != records[i - 1].trainable:
                k += 1
            stage_index.append(k)
        trainable = None
        if group_params is not None:
            trainable = tuple(float(sum(group_params[g] for g in r.trainable)) for r in records)
        rates = {
            name: tuple(r.lr_multipliers[g] for r in records) for g, name in enumerate(group_names)
        }
        metrics = {
            key: _floats(list(values)[: len(records)])
            for key, values in (history or {}).items()
            if not key.startswith("unfreeze_") and key not in ("epoch", "lr")
        }
        monitor = _check_monitor(monitor, metrics)
        return cls(
            stages=tuple(float(r.stage) for r in records),
            stage_index=tuple(stage_index),
            trainable_params=trainable,
            rates=rates,
            rate_label="LR multiplier (dry run)",
            metrics=metrics,
            monitor=monitor,
            mode=mode or _infer_mode(monitor),
            n_groups=n,
            source=source,
        )

    def bands(self) -> list[tuple[int, int, float]]:
        """``(first epoch, last epoch, groups trainable)`` of each stage, 0-based.

        Example:
            >>> Timeline(stages=(1, 1, 2, 3), stage_index=(0, 0, 1, 2)).bands()
            [(0, 1, 1), (2, 2, 2), (3, 3, 3)]
        """
        out: list[tuple[int, int, float]] = []
        for i, (s, k) in enumerate(zip(self.stages, self.stage_index, strict=True)):
            if out and self.stage_index[out[-1][0]] == k:
                out[-1] = (out[-1][0], i, out[-1][2])
            else:
                out.append((i, i, s))
        return out


def _infer_mode(monitor: str | None) -> str:
    if monitor is None:
        return "min"
    from .policies.plateau import infer_mode

    return infer_mode(monitor)


def _check_monitor(monitor: str | None, metrics: Mapping[str, Any]) -> str | None:
    if monitor is None:
        return "val_loss" if "val_loss" in metrics else ("loss" if "loss" in metrics else None)
    if monitor not in metrics:
        raise HistoryError(
            f"the monitored metric '{monitor}' is not in the history; it holds: "
            f"{', '.join(sorted(metrics)) or '(no metrics)'}"
        )
    return monitor


def _best(values: Sequence[float], mode: str) -> int | None:
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        return None
    return (min(finite) if mode == "min" else max(finite, key=lambda t: (t[0], -t[1])))[1]


def human(n: float) -> str:
    """``37957 -> '38.0K'``."""
    if not math.isfinite(n):
        return "?"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}"
    return f"{n:.0f}"


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
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        HistoryError: a metric asked for is not in the timeline, or there is no epoch.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if timeline.n_epochs == 0:
        raise HistoryError("the history has no epoch to draw")
    chosen = list(timeline.metrics) if metrics is None else list(metrics)
    missing = [m for m in chosen if m not in timeline.metrics]
    if missing:
        raise HistoryError(
            f"no metric {', '.join(map(repr, missing))} in the history; it holds: "
            f"{', '.join(sorted(timeline.metrics)) or '(no metrics)'}"
        )
    losses = [m for m in chosen if "loss" in m]
    others = [m for m in chosen if "loss" not in m]
    panels: list[str] = []
    if losses:
        panels.append("loss")
    if others:
        panels.append("metrics")
    if any(any(v > 0 for v in vals) for vals in timeline.rates.values()):
        panels.append("rates")
    if timeline.trainable_params is not None:
        panels.append("trainable")
    panels = panels or ["stages"]
    heights = {"loss": 2.4, "metrics": 2.0, "rates": 2.4, "trainable": 1.5, "stages": 1.0}
    fig, axes = plt.subplots(
        len(panels), 1, sharex=True, figsize=(9.0, 1.0 + sum(heights[p] for p in panels)),
        gridspec_kw={"height_ratios": [heights[p] for p in panels]}, squeeze=False,
    )
    axs = [a[0] for a in axes]
    epochs = list(range(1, timeline.n_epochs + 1))
    bands = timeline.bands()
    shades = plt.get_cmap("Blues")
    most = max((g for _, _, g in bands), default=1.0)
    scale = float(timeline.n_groups or most or 1.0)
    for ax in axs:
        for j, (a, b, groups) in enumerate(bands):
            # darker = more of the model trainable; a thin line where a stage begins
            ax.axvspan(a + 0.5, b + 1.5, color=shades(0.04 + 0.24 * groups / scale), lw=0)
            if j:
                ax.axvline(a + 0.5, color="tab:blue", lw=0.8, alpha=0.7)
        ax.grid(True, axis="y", alpha=0.3)
        ax.margins(x=0)
    top = axs[0]
    n_groups = timeline.n_groups
    for j, (a, b, groups) in enumerate(bands):
        of = f"/{n_groups}" if n_groups else ""
        width = (b - a + 1) / timeline.n_epochs
        if width >= 0.14:
            label = f"stage {j + 1}\n{groups:.0f}{of} groups"
        else:
            label = f"{j + 1}" if width < 0.06 else f"stage\n{j + 1}"
        top.text((a + b) / 2 + 1, 1.02, label, transform=top.get_xaxis_transform(),
                 ha="center", va="bottom", fontsize=8)

    def draw_metrics(ax: Any, names: list[str]) -> None:
        for name in names:
            values = timeline.metrics[name]
            xs = epochs[: len(values)]
            is_monitor = name == timeline.monitor
            label = name + (" (monitored)" if is_monitor else "")
            ax.plot(xs, values, lw=2.4 if is_monitor else 1.3, label=label,
                    marker="o" if len(xs) <= 30 else None, ms=2.5)
            if is_monitor:
                best = _best(values, timeline.mode)
                if best is not None:
                    ax.plot([xs[best]], [values[best]], marker="*", ms=13, color="black", zorder=5,
                            label=f"best {name} (epoch {xs[best]})")
        ax.legend(fontsize=8, loc="best", framealpha=0.85)

    for ax, panel in zip(axs, panels, strict=True):
        if panel == "loss":
            draw_metrics(ax, losses)
            ax.set_ylabel("loss")
            finite = [v for m in losses for v in timeline.metrics[m] if math.isfinite(v) and v > 0]
            if finite and max(finite) / min(finite) > 50:
                ax.set_yscale("log")
        elif panel == "metrics":
            draw_metrics(ax, others)
            ax.set_ylabel("metrics")
        elif panel == "rates":
            names = list(timeline.rates)
            cmap = plt.get_cmap("viridis")
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
        elif panel == "trainable":
            assert timeline.trainable_params is not None
            ax.step(epochs, timeline.trainable_params, where="mid", color="tab:purple", lw=2)
            for a, _, _ in bands:
                value = timeline.trainable_params[a]
                ax.annotate(human(value), (a + 0.6, value), xytext=(2, 3),
                            textcoords="offset points", fontsize=8, color="tab:purple")
            ax.set_ylabel("trainable\nparameters")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
            ax.set_ylim(bottom=0, top=max(timeline.trainable_params) * 1.25 or 1.0)
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
