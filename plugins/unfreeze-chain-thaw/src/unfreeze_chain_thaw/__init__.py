"""Chain-thaw for unfreeze-core: train each group alone in turn, then all together.

Felbo et al. 2017, "Using millions of emoji occurrences to learn any-domain
representations for detecting sentiment, emotion and sarcasm" (DeepMoji), section 3.2:
chain-thaw "first fine-tunes any new layers (often only a softmax layer) to the target
task until convergence on the validation set. Then, the approach fine-tunes each layer
individually starting from the first layer in the network. Lastly, the entire model is
trained with all layers."

Here a *layer* is an unfreeze-core group. Over ``n`` groups (0 nearest the input,
``n - 1`` the head) the stages are::

    {n-1}, {0}, {1}, ..., {n-2}, {0, 1, ..., n-1}

Each stage lasts until the ``when`` policy is ready (by default a plateau of the
validation loss, "until convergence on the validation set"). Groups are refrozen
between stages, so this policy is *not monotonic*: it says which groups train in each
stage with ``trainable_sets``, which the engine reads. Its ``when`` field is declared
``arg(kind="policy")``, so the engine finds the wrapped policy (and the metric it
monitors) the way it finds the children of ``any_of``.

Use it by name once this distribution is installed:

.. code-block:: toml

    [policy]
    type = "chain_thaw"
    when = { type = "plateau", patience = 2 }
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from unfreeze_core import Plateau, hookimpl
from unfreeze_core.errors import ConfigError, Problem
from unfreeze_core.events import Event
from unfreeze_core.fields import arg
from unfreeze_core.policies import Policy

__all__ = ["ChainThaw", "chain_thaw_sets"]

__version__ = "0.1.0"


def chain_thaw_sets(n_groups: int) -> list[tuple[int, ...]]:
    """The trainable groups of each chain-thaw stage, over ``n_groups`` groups.

    Example:
        >>> chain_thaw_sets(4)
        [(3,), (0,), (1,), (2,), (0, 1, 2, 3)]
        >>> chain_thaw_sets(1)
        [(0,)]
    """
    if n_groups < 1:
        raise ValueError(f"chain-thaw needs at least one group, got {n_groups}")
    head = n_groups - 1
    stages = [(head,), *((g,) for g in range(head)), tuple(range(n_groups))]
    out: list[tuple[int, ...]] = []
    for stage in stages:  # with one group, "the head alone" and "all" are the same
        if not out or out[-1] != stage:
            out.append(stage)
    return out


@attrs.frozen
class ChainThaw:
    """Chain-thaw: the head alone, then each group alone from the input side, then all.

    Args:
        when: the policy that ends each stage; it sees every event and is reset at
            each stage change, as a top-level policy would be. The default,
            ``Plateau(patience=3)``, moves on once the validation loss has not
            improved for 3 epochs.

    The learning rate is the schedule's business: DeepMoji used 1e-3 for the first
    stage and 1e-4 after it, which is a base rate of 1e-3 with the rule
    ``StageScaled(scales=[1.0, 0.1])``.

    Example:
        >>> from unfreeze_core import Schedule, FixedEpoch
        >>> schedule = Schedule(ChainThaw(when=FixedEpoch(every=1)))
        >>> [r.trainable for r in schedule.dry_run(3, {"val_loss": [1.0] * 5})]
        [(2,), (0,), (1,), (0, 1, 2), (0, 1, 2)]
    """

    #: the name it is registered under, and written as in configs
    type_name: ClassVar[str] = "chain_thaw"

    when: Policy = arg(Plateau(patience=3), kind="policy", doc="Ends each stage.")

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.when, Policy):
            raise ConfigError(
                [Problem("when", f"must be a policy (init() and update()), got {self.when!r}")],
                source="ChainThaw",
            )

    def trainable_sets(self, n_groups: int) -> list[tuple[int, ...]]:
        """The groups that train in each stage (see :func:`chain_thaw_sets`)."""
        return chain_thaw_sets(n_groups)

    def init(self) -> Any:
        return self.when.init()

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        return self.when.update(state, event)


@hookimpl
def register_policies(register: Any) -> None:
    """Make ``{"type": "chain_thaw"}`` usable in schedules."""
    register(ChainThaw.type_name, ChainThaw)
