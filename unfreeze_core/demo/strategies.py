"""The demo's strategies and its default schedule (plain Python, no TensorFlow).

The default schedule is what the README recommends for a first try: unfreeze the next
group when the validation loss plateaus, give deeper groups smaller rates (ULMFiT's
discriminative factor 2.6), and ramp every newly unfrozen group up over 20 steps.
``min_delta=0.03`` because the target validation set has only 100 images: its loss
moves by about 0.01 from one epoch to the next from noise alone.
"""

from __future__ import annotations

import attrs

from ..lr_rules import Discriminative, Warmup
from ..policies import Plateau
from ..schedule import Schedule

__all__ = [
    "BASELINES",
    "HEAD_ONLY",
    "PROGRESSIVE",
    "STRATEGIES",
    "UNFREEZE_ALL",
    "UNFREEZE_ALL_LOW_LR",
    "Strategy",
    "default_schedule",
]

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


def default_schedule() -> Schedule:
    """Plateau-triggered unfreezing with discriminative rates and a warmup.

    Example:
        >>> s = default_schedule()
        >>> s.policy.monitor, s.policy.patience, [type(r).__name__ for r in s.rules]
        ('val_loss', 2, ['Discriminative', 'Warmup'])
    """
    return Schedule(
        Plateau(monitor="val_loss", patience=2, min_delta=0.03),
        rules=[Discriminative(factor=2.6), Warmup(steps=20)],
    )
