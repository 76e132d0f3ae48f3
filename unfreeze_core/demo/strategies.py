"""The demo's strategies, its budget, its results and its default schedule (plain Python,
no TensorFlow).

The default schedule is what the README recommends for a first try: unfreeze the next
group when the validation loss plateaus, give deeper groups smaller rates (ULMFiT's
discriminative factor 2.6), and ramp every newly unfrozen group up over 20 steps.
``min_delta=0.03`` because the target validation set has only 100 images: its loss
moves by about 0.01 from one epoch to the next from noise alone.

A plateau needs more epochs than a smoke run has, so ``--quick`` runs
:func:`quick_schedule` instead: the same rules, one more group every 3 epochs.

Every strategy reports the weights of its best epoch by :data:`MONITOR` (what a user would
keep, as ``keras.callbacks.EarlyStopping(restore_best_weights=True)`` keeps them), unless
:attr:`Settings.restore_best` is off.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..lr_rules import Discriminative, Warmup
from ..policies import FixedEpoch, Plateau
from ..schedule import Schedule

__all__ = [
    "BASELINES",
    "HEAD_ONLY",
    "MONITOR",
    "PROGRESSIVE",
    "QUICK",
    "STRATEGIES",
    "UNFREEZE_ALL",
    "UNFREEZE_ALL_LOW_LR",
    "Result",
    "Settings",
    "Strategy",
    "default_schedule",
    "progressive",
    "quick_schedule",
]

QUICK = {"epochs": 10, "pretrain_epochs": 4}
"""The budget of ``unfreeze demo --quick``: a smoke test that still unfreezes every group
(with :func:`quick_schedule`: from epochs 4, 7 and 10)."""

MONITOR = "val_loss"
"""The metric whose best epoch every strategy reports (lowest), as the schedule watches it:
on 100 validation images the loss is a steadier guide than the accuracy."""

PROGRESSIVE = "progressive"
HEAD_ONLY = "head_only"
UNFREEZE_ALL = "unfreeze_all"
UNFREEZE_ALL_LOW_LR = "unfreeze_all_low_lr"


@attrs.frozen
class Strategy:
    """One way of fine-tuning.

    Attributes:
        key: a stable identifier (used in ``results.json``).
        label: the name shown in the table.
        lr_scale: the strategy's learning rate as a multiple of the demo's base rate.
        train_backbone: whether the backbone trains (ignored by the progressive
            strategy, whose schedule decides).
    """

    key: str
    label: str
    lr_scale: float = 1.0
    train_backbone: bool = True


@attrs.frozen
class Settings:
    """The budget every strategy gets, and the seed.

    Attributes:
        seed: seeds the data split, the initial weights and the shuffling.
        epochs: fine-tuning epochs per strategy.
        pretrain_epochs: epochs of pretraining on the source task.
        labels_per_class: labelled target examples per digit.
        batch_size: fine-tuning batch size (50 labels -> 4 steps per epoch).
        lr: the optimizer's base learning rate (Adam) for fine-tuning.
        val_size: target validation images (what the schedule's policy watches).
        restore_best: report (and keep) each strategy's weights from its best epoch by
            :data:`MONITOR`; off, the last epoch's.
    """

    seed: int = 0
    epochs: int = 40
    pretrain_epochs: int = 15
    labels_per_class: int = 10
    batch_size: int = 16
    lr: float = 1e-2
    val_size: int = 100
    restore_best: bool = True

    @classmethod
    def chosen(
        cls, *, quick: bool = False, epochs: int | None = None,
        pretrain_epochs: int | None = None, **kwargs: Any,
    ) -> Settings:
        """The settings of a command line: ``epochs`` and ``pretrain_epochs`` default to
        the full budget, or to :data:`QUICK`'s with ``quick``.

        Example:
            >>> Settings.chosen(quick=True, seed=2).epochs, Settings.chosen().epochs
            (10, 40)
        """
        full = attrs.fields(cls)
        budget = QUICK if quick else {
            "epochs": full.epochs.default, "pretrain_epochs": full.pretrain_epochs.default
        }
        return cls(epochs=epochs or budget["epochs"],
                   pretrain_epochs=pretrain_epochs or budget["pretrain_epochs"], **kwargs)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.labels_per_class * 5 // self.batch_size)


@attrs.frozen(eq=False)
class Result:
    """One strategy's outcome.

    Attributes:
        strategy: the strategy's key (``"progressive"``, ``"head_only"``, ...).
        label: its name for people.
        lr: the base learning rate it used.
        target_accuracy: accuracy on the target test set after fine-tuning.
        source_before: source test accuracy of the pretrained model.
        source_after: source test accuracy after fine-tuning (source head, shared backbone).
        seconds: wall time of the fine-tuning ``fit``.
        history: the Keras ``History.history`` of the fine-tuning (every epoch).
        best_epoch: the epoch (1-based) whose weights were scored; the last one when
            the best weights were not restored.
        last_target_accuracy: target test accuracy of the last epoch's weights.
    """

    strategy: str
    label: str
    lr: float
    target_accuracy: float
    source_before: float
    source_after: float
    seconds: float
    history: dict[str, list[float]]
    best_epoch: int = 0
    last_target_accuracy: float = float("nan")

    @property
    def epochs(self) -> int:
        """Epochs run."""
        return len(next(iter(self.history.values()), []))

    @property
    def source_lost(self) -> float:
        return self.source_before - self.source_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "label": self.label,
            "lr": self.lr,
            "target_accuracy": self.target_accuracy,
            "source_accuracy_before": self.source_before,
            "source_accuracy_after": self.source_after,
            "source_accuracy_lost": self.source_lost,
            "seconds": self.seconds,
            "scored_epoch": self.best_epoch,
            "epochs": self.epochs,
            "target_accuracy_last_epoch": self.last_target_accuracy,
        }


STRATEGIES: dict[str, Strategy] = {
    PROGRESSIVE: Strategy(PROGRESSIVE, "progressive (default schedule)"),
    HEAD_ONLY: Strategy(HEAD_ONLY, "head only", train_backbone=False),
    UNFREEZE_ALL: Strategy(UNFREEZE_ALL, "unfreeze all"),
    UNFREEZE_ALL_LOW_LR: Strategy(UNFREEZE_ALL_LOW_LR, "unfreeze all, rate / 10", lr_scale=0.1),
}
"""Every strategy, progressive first."""

BASELINES: tuple[str, ...] = (HEAD_ONLY, UNFREEZE_ALL, UNFREEZE_ALL_LOW_LR)
"""What ``--compare`` adds. "unfreeze all" gets the same base rate as the others; since
that rate is too high for the pretrained backbone (the head needs it), the usual remedy,
a ten times smaller rate, is run as well."""


def progressive(name: str) -> Strategy:
    """The progressive strategy, labelled with the schedule it runs.

    Example:
        >>> progressive("my.toml").label
        'progressive (my.toml)'
    """
    return Strategy(PROGRESSIVE, f"progressive ({name})")


def default_schedule() -> Schedule:
    """Plateau-triggered unfreezing with discriminative rates and a warmup.

    Example:
        >>> s = default_schedule()
        >>> s.policy.monitor, s.policy.patience, [type(r).__name__ for r in s.rules]
        ('val_loss', 2, ['Discriminative', 'Warmup'])
    """
    return Schedule(
        Plateau(monitor="val_loss", patience=2, min_delta=0.03, min_rel_delta=0.0,
                unfrozen_by=None),
        rules=[Discriminative(factor=2.6), Warmup(steps=20)],
    )


def quick_schedule() -> Schedule:
    """The default schedule's rules with one more group every 3 epochs (``--quick``).

    Example:
        >>> quick_schedule().to_config()["policy"]
        {'type': 'fixed_epoch', 'every': 3}
    """
    return Schedule(FixedEpoch(every=3), rules=[Discriminative(factor=2.6), Warmup(steps=8)])
