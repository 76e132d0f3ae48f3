"""The timeline of a progressive run: per-epoch stages, trainable parameters, rates, metrics.

A :class:`Timeline` is plain per-epoch data. It comes either from the epoch logs the
driver writes (:meth:`Timeline.from_history`, for a Keras ``History`` or a ``CSVLogger``
file of a run with :class:`~unfreeze_core.ProgressiveUnfreezing`), or from a dry run of a
schedule over any history (:meth:`Timeline.from_dry_run`).
:func:`unfreeze_core.plotting.plot_timeline` draws it (the ``plot`` extra); this module
imports neither matplotlib nor Keras.

The log keys are the driver's (``unfreeze_core.keras`` re-exports them): they are
defined here so that reading a history does not import Keras. The words are the verbose
lines' and ``unfreeze plan``'s: a *stage* is numbered from 1 ("stage 2/5"), and the
*groups trainable* are counted separately. Histories written before that naming (where
``unfreeze_stage`` counted the groups trainable) are still read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .errors import UnfreezeError
from .monitoring import infer_mode
from .schedule import EpochRecord

__all__ = [
    "LOG_GRAD_NORM",
    "LOG_GROUPS",
    "LOG_LR",
    "LOG_STAGE",
    "LOG_STAGE_INDEX",
    "LOG_STEPS",
    "LOG_TRAINABLE",
    "HistoryError",
    "Timeline",
    "driver_keys",
    "groups_trainable",
    "human",
    "plural",
    "record_stage_index",
    "stage_numbers",
]

LOG_STAGE = "unfreeze_stage"
"""The stage of the epoch, numbered from 1 (the verbose lines' "stage 2/5")."""
LOG_GROUPS = "unfreeze_groups_trainable"
"""How many groups trained during the epoch."""
LOG_TRAINABLE = "unfreeze_trainable_params"
"""Trainable parameters during the epoch."""
LOG_STEPS = "unfreeze_steps"
"""Optimizer steps taken by the end of the epoch (``optimizer.iterations``)."""
LOG_GRAD_NORM = "unfreeze_grad_norm"
"""With a ``GradNorm`` policy: the last gradient-norm reading over all groups."""
LOG_LR = "unfreeze_lr/"
"""Prefix of each group's rate at the epoch's last step (0 while frozen)."""
LOG_STAGE_INDEX = "unfreeze_stage_index"
"""Older histories only: advances made before the epoch (0-based). The driver no longer
writes it; :data:`LOG_STAGE` minus 1 is the same number."""


class HistoryError(UnfreezeError, ValueError):
    """A training history cannot be read, or lacks what was asked of it."""


def driver_keys(history: Mapping[str, Any]) -> list[str]:
    """The keys of ``history`` that the driver wrote (``unfreeze_...``)."""
    return [k for k in history if k.startswith("unfreeze_")]


def _is_old(history: Mapping[str, Any]) -> bool:
    """Whether ``history`` was written before the rename (``unfreeze_stage`` = groups)."""
    return LOG_STAGE in history and LOG_GROUPS not in history


def stage_numbers(history: Mapping[str, Sequence[Any]]) -> tuple[float, ...]:
    """Each epoch's stage, numbered from 1, from a driver's history (old ones too).

    Example:
        >>> stage_numbers({"unfreeze_stage": [1, 1, 2], "unfreeze_groups_trainable": [2, 2, 4]})
        (1.0, 1.0, 2.0)
        >>> stage_numbers({"unfreeze_stage": [2, 2, 4], "unfreeze_stage_index": [0, 0, 1]})
        (1.0, 1.0, 2.0)
    """
    if not _is_old(history):
        return _floats(history.get(LOG_STAGE, ()))
    if LOG_STAGE_INDEX in history:
        return tuple(k + 1 for k in _floats(history[LOG_STAGE_INDEX]))
    counted, k = [], 1.0  # the oldest logs: count the changes of the groups trainable
    groups = _floats(history[LOG_STAGE])
    for i, g in enumerate(groups):
        if i and g != groups[i - 1]:
            k += 1
        counted.append(k)
    return tuple(counted)


def groups_trainable(history: Mapping[str, Sequence[Any]]) -> tuple[float, ...]:
    """Each epoch's count of trainable groups, from a driver's history (old ones too)."""
    return _floats(history[LOG_STAGE if _is_old(history) else LOG_GROUPS])


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    return tuple(float("nan") if v is None else float(v) for v in values)


def _metric_keys(history: Mapping[str, Sequence[float]]) -> list[str]:
    return [k for k in history if not k.startswith("unfreeze_") and k not in ("epoch", "lr")]


@attrs.frozen
class Timeline:
    """Per-epoch data of one run (epoch ``i`` of every sequence is the ``i``-th epoch).

    Attributes:
        groups_trainable: how many groups trained during each epoch.
        stage_index: each epoch's stage, counted from 0 (bands change where it does;
            the stage *number* people read is ``stage_index + 1``).
        trainable_params: trainable parameters per epoch, when known.
        rates: per group (input side first), its rate at each epoch's last step (0 when
            frozen).
        rate_label: what ``rates`` are: learning rates, or multipliers of the base rate.
        metrics: the other per-epoch values of the history (losses, accuracies, ...).
        monitor: the metric the schedule watches, drawn thicker, its best epoch marked.
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        n_groups: number of groups, when known.
        source: where the data came from, for the title.
    """

    groups_trainable: tuple[float, ...]
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
        return len(self.groups_trainable)

    @classmethod
    def from_history(
        cls,
        history: Mapping[str, Sequence[Any]],
        *,
        monitor: str | None = None,
        mode: str | None = None,
        source: str = "",
    ) -> Timeline:
        """A timeline from the epoch logs of a run with the driver (older logs too).

        Raises:
            HistoryError: the history has no ``unfreeze_stage`` values (it was not
                recorded with ``ProgressiveUnfreezing``), or ``monitor`` is not in it.

        Example:
            >>> t = Timeline.from_history({"loss": [1.0, 0.5], "unfreeze_stage": [1, 2],
            ...                            "unfreeze_groups_trainable": [1, 3],
            ...                            "unfreeze_lr/head": [0.1, 0.1]})
            >>> t.n_epochs, t.stage_index, t.groups_trainable, list(t.rates)
            (2, (0.0, 1.0), (1.0, 3.0), ['head'])
        """
        if LOG_STAGE not in history:
            found = ", ".join(sorted(history)) or "(nothing)"
            raise HistoryError(
                f"the history has no '{LOG_STAGE}' values, so it was not recorded with the "
                f"ProgressiveUnfreezing callback (it holds: {found}). To see what a schedule "
                "would have done over it, run 'unfreeze plan SCHEDULE --history FILE "
                "--plot timeline.png'."
            )
        stages = stage_numbers(history)
        groups = (
            groups_trainable(history) if _is_old(history) or LOG_GROUPS in history
            else tuple(math.nan for _ in stages)
        )
        trainable = _floats(history[LOG_TRAINABLE]) if LOG_TRAINABLE in history else None
        rates = {k[len(LOG_LR):]: _floats(v) for k, v in history.items() if k.startswith(LOG_LR)}
        metrics = {k: _floats(history[k]) for k in _metric_keys(history)}
        monitor = _check_monitor(monitor, metrics)
        return cls(
            groups_trainable=groups,
            stage_index=tuple(s - 1 for s in stages),
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

        ``rates`` are the LR multipliers at each epoch's last step (as the driver logs
        rates); ``group_params`` (from a model) gives the trainable parameters per epoch.
        """
        n = len(group_names)
        trainable = None
        if group_params is not None:
            trainable = tuple(float(sum(group_params[g] for g in r.trainable)) for r in records)
        rates = {
            name: tuple(r.lr_multipliers_end[g] for r in records)
            for g, name in enumerate(group_names)
        }
        metrics = {
            key: _floats(list(values)[: len(records)])
            for key, values in (history or {}).items()
            if not key.startswith("unfreeze_") and key not in ("epoch", "lr")
        }
        monitor = _check_monitor(monitor, metrics)
        return cls(
            groups_trainable=tuple(float(r.stage) for r in records),
            stage_index=tuple(float(k) for k in record_stage_index(records)),
            trainable_params=trainable,
            rates=rates,
            rate_label="LR multiplier (dry run)",
            metrics=metrics,
            monitor=monitor,
            mode=mode or _infer_mode(monitor),
            n_groups=n,
            source=source,
        )

    def newly_trainable(self, epoch: int) -> list[str]:
        """The groups whose rate is 0 before ``epoch`` (0-based) and not in it: those
        that started training there (empty without rates).

        Example:
            >>> t = Timeline(groups_trainable=(1, 2), stage_index=(0, 1),
            ...              rates={"body": (0.0, 0.01), "head": (0.1, 0.1)})
            >>> t.newly_trainable(1)
            ['body']
        """
        if epoch == 0:
            return []
        return [
            name for name, r in self.rates.items()
            if len(r) > epoch and not r[epoch - 1] > 0 and r[epoch] > 0
        ]

    def refrozen(self, epoch: int) -> list[str]:
        """The groups that trained in the epoch before ``epoch`` (0-based) and whose rate
        is 0 from ``epoch`` on: re-frozen there (``AutoFreeze``, ``FreezeOut``).

        Example:
            >>> t = Timeline(groups_trainable=(2, 2, 1), stage_index=(0, 0, 1),
            ...              rates={"body": (0.01, 0.01, 0.0), "head": (0.1, 0.1, 0.1)})
            >>> t.refrozen(2), t.refrozen(1)
            (['body'], [])
        """
        return [
            name for name, r in self.rates.items()
            if 0 < epoch < len(r) and r[epoch - 1] > 0 and not any(x > 0 for x in r[epoch:])
        ]

    def best_epoch(self, name: str | None = None) -> int | None:
        """The 0-based epoch at which metric ``name`` (default: the monitored one) was
        best under ``mode`` (the first such epoch), ``None`` when it has no finite
        value.

        Example:
            >>> t = Timeline(groups_trainable=(1, 1, 2), stage_index=(0, 0, 1),
            ...              metrics={"val_loss": (0.9, 0.5, 0.7)}, monitor="val_loss")
            >>> t.best_epoch()
            1
        """
        name = name if name is not None else self.monitor
        if name is None or name not in self.metrics:
            return None
        finite = [(v, i) for i, v in enumerate(self.metrics[name]) if math.isfinite(v)]
        if not finite:
            return None
        if self.mode == "min":
            return min(finite)[1]
        return max(finite, key=lambda t: (t[0], -t[1]))[1]

    def bands(self) -> list[tuple[int, int, float]]:
        """``(first epoch, last epoch, groups trainable)`` of each stage, 0-based.

        Example:
            >>> Timeline(groups_trainable=(1, 1, 2, 3), stage_index=(0, 0, 1, 2)).bands()
            [(0, 1, 1), (2, 2, 2), (3, 3, 3)]
        """
        out: list[tuple[int, int, float]] = []
        for i, (s, k) in enumerate(zip(self.groups_trainable, self.stage_index, strict=True)):
            if out and self.stage_index[out[-1][0]] == k:
                out[-1] = (out[-1][0], i, out[-1][2])
            else:
                out.append((i, i, s))
        return out


def record_stage_index(records: Sequence[EpochRecord]) -> list[int]:
    """Each dry-run record's stage, counted from 0 (a new stage where the trainable set
    changes)."""
    out, k = [], 0
    for i, r in enumerate(records):
        if i and r.trainable != records[i - 1].trainable:
            k += 1
        out.append(k)
    return out


def _infer_mode(monitor: str | None) -> str:
    return "min" if monitor is None else infer_mode(monitor)


def _check_monitor(monitor: str | None, metrics: Mapping[str, Any]) -> str | None:
    if monitor is None:
        return "val_loss" if "val_loss" in metrics else ("loss" if "loss" in metrics else None)
    if monitor not in metrics:
        raise HistoryError(
            f"the monitored metric '{monitor}' is not in the history; it holds: "
            f"{', '.join(sorted(metrics)) or '(no metrics)'}"
        )
    return monitor


def human(n: float) -> str:
    """``37957 -> '38.0K'``."""
    if not math.isfinite(n):
        return "?"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}"
    return f"{n:.0f}"


def plural(n: int, word: str) -> str:
    """``plural(1, "stage") -> '1 stage'``, ``plural(3, "stage") -> '3 stages'``."""
    return f"{n} {word}{'' if n == 1 else 's'}"
