"""Walking a policy and the policies nested in it: one walker for the whole package.

A policy tree is a policy (``any_of(Plateau(), GradNorm(fraction=0.1))``) with the
policies it combines below it. What a node *can do* is declared, never guessed from
type names:

children
    the fields declared with ``arg(kind="policy")`` or ``arg(kind="policies")`` (the
    built-in combinators, ``ChainThaw(when=...)``), or, for a policy that is not an
    attrs class, a ``children()`` method returning its policies.
reads steps
    a policy that reads per-step gradient norms has an integer ``check_every`` and a
    ``reads_step(step) -> bool`` method (:class:`StepReader`; ``GradNorm`` is one).
    The driver computes the norms only for the steps such a policy reads.
chooses sets
    a policy with ``trainable_sets(n_groups)`` chooses which groups train in each stage
    (chain-thaw); it must be the root of the tree.
monitor
    a policy with a string ``monitor`` watches that metric.

Example:
    >>> from unfreeze_core import FixedEpoch, GradNorm, Plateau
    >>> tree = FixedEpoch(every=3) | (Plateau(monitor="val_acc") & GradNorm(fraction=0.1))
    >>> [path for path, _ in walk(tree)]
    ['policy', 'policy.policies[0]', 'policy.policies[1]', 'policy.policies[1].policies[0]', \
'policy.policies[1].policies[1]']
    >>> find_monitor(tree), norm_intervals(tree)
    ('val_acc', (1,))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import attrs

from .policies.base import Policy

__all__ = [
    "StepReader",
    "children",
    "chooses_sets",
    "find_monitor",
    "leaves",
    "nested_set_chooser",
    "norm_intervals",
    "step_readers",
    "walk",
]


@runtime_checkable
class StepReader(Protocol):
    """A policy that reads the per-group gradient norms of some optimizer steps."""

    check_every: int

    def reads_step(self, step: int) -> bool:
        """Whether the norms of optimizer step ``step`` (1-based) are read."""
        ...


def children(policy: Any) -> tuple[tuple[str, Policy], ...]:
    """The policies directly below ``policy``, each with its path relative to it
    (``"policies[1]"``, ``"when"``)."""
    if attrs.has(type(policy)):
        out: list[tuple[str, Policy]] = []
        for field in attrs.fields(type(policy)):
            kind = field.metadata.get("kind")
            value = getattr(policy, field.name)
            if kind == "policy":
                out.append((field.name, value))
            elif kind == "policies":
                out.extend((f"{field.name}[{i}]", p) for i, p in enumerate(value))
        return tuple(out)
    declared = getattr(policy, "children", None)
    if callable(declared):
        return tuple((f"children[{i}]", p) for i, p in enumerate(declared()))
    return ()


def walk(policy: Any, path: str = "policy") -> Iterator[tuple[str, Any]]:
    """``(path, policy)`` for ``policy`` and every policy below it, depth first, parents
    before their children; paths are the config locations (``policy.policies[0]``)."""
    yield path, policy
    for sub, child in children(policy):
        yield from walk(child, f"{path}.{sub}")


def leaves(policy: Any) -> list[Any]:
    """The policies of the tree that have no children (the triggers themselves)."""
    return [p for _, p in walk(policy) if not children(p)]


def step_readers(policy: Any) -> list[StepReader]:
    """The policies of the tree that read per-step gradient norms."""
    return [p for _, p in walk(policy) if isinstance(p, StepReader)]


def norm_intervals(policy: Any) -> tuple[int, ...]:
    """The distinct ``check_every`` of the tree's step readers, sorted (``()``: none)."""
    return tuple(sorted({int(p.check_every) for p in step_readers(policy)}))


def chooses_sets(policy: Any) -> bool:
    """Whether ``policy`` itself chooses the trainable set of each stage."""
    return callable(getattr(policy, "trainable_sets", None))


def nested_set_chooser(policy: Any, path: str = "policy") -> str | None:
    """The path of a policy below the root that chooses sets (it must be the root)."""
    for where, p in walk(policy, path):
        if where != path and chooses_sets(p):
            return where
    return None


def find_monitor(policy: Any) -> str | None:
    """The first ``monitor`` named in the tree, parents first; ``None`` if none is."""
    for _, p in walk(policy):
        monitor = getattr(p, "monitor", None)
        if isinstance(monitor, str):
            return monitor
    return None
