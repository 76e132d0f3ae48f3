"""``FixedEpoch``: advance on a fixed timetable of epochs (the classic recipe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, Problem
from ..events import EpochEnd, Event, StageChange
from ..fields import arg, each, ge, non_empty, strictly_increasing
from .combinators import Composable

__all__ = ["FixedEpoch"]


@attrs.frozen
class FixedEpoch(Composable):
    """Advance every ``every`` epochs, or when the epochs listed in ``at`` begin.

    ``at=[5, 10]`` means the next group trains from epoch index 5 (the sixth epoch,
    printed ``Epoch 6``) and the one after from epoch index 10: the groups unfreeze at
    the end of epochs 4 and 9. ``every=5`` is the same as ``at=[5, 10, 15, ...]``.

    Closed form: during epoch ``e`` the number of advances made is the number of
    entries ``a <= e`` (``e // every`` for ``every``), capped by the group count.

    Example:
        >>> from unfreeze_core import FixedEpoch
        >>> FixedEpoch(every=5).advances_due(10)
        2
    """

    type_name: ClassVar[str] = "fixed_epoch"

    every: int | None = arg(None, ge(1), doc="Advance after every N epochs.")
    at: Sequence[int] | None = arg(
        None,
        non_empty,
        each(ge(1)),
        strictly_increasing,
        doc="0-based epoch indices from which the next group trains.",
    )

    def __attrs_post_init__(self) -> None:
        if (self.every is None) == (self.at is None):
            raise ConfigError(
                [Problem("every", "give exactly one of 'every' or 'at'")],
                source="FixedEpoch",
            )

    def advances_due(self, epochs_completed: int) -> int:
        """How many advances the timetable asks for once ``epochs_completed`` are done."""
        if self.every is not None:
            return epochs_completed // self.every
        assert self.at is not None
        return sum(1 for a in self.at if a <= epochs_completed)

    def init(self) -> Any:
        return {"due": 0, "advances": 0}

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        if isinstance(event, EpochEnd):
            state = {**state, "due": self.advances_due(event.epoch + 1)}
        elif isinstance(event, StageChange):
            state = {**state, "advances": state["advances"] + 1}
        return state, state["due"] > state["advances"]
