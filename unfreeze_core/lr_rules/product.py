"""``Product``: rules composed by multiplication, in order; ``a * b`` (:class:`Multipliable`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, Problem, checked_multiplier
from ..fields import arg
from .base import LRContext, LRRule

__all__ = ["Multipliable", "Product", "compose"]


class Multipliable:
    """``a * b`` composes two rules by multiplication (see :class:`Product`)."""

    __slots__ = ()

    def __mul__(self, other: LRRule) -> LRRule:
        return compose(self, other)  # type: ignore[arg-type]

    def __rmul__(self, other: LRRule) -> LRRule:
        return compose(other, self)  # type: ignore[arg-type]


@attrs.frozen
class Product(Multipliable):
    """The product of ``rules``, in order. Spelled ``compose(a, b)`` or ``a * b``.

    A schedule's ``rules`` list is composed the same way.
    """

    type_name: ClassVar[str] = "product"
    config_shorthand: ClassVar[bool] = True  # written {"product": [...]} in configs

    rules: Sequence[LRRule] = arg(kind="rules", doc="The rules multiplied, in order.")

    def __attrs_post_init__(self) -> None:
        for i, rule in enumerate(self.rules):
            if not callable(rule):
                raise ConfigError(
                    [Problem(f"rules[{i}]", f"must be an LR rule (a callable), got {rule!r}")],
                    source="Product",
                )

    def __call__(self, ctx: LRContext) -> Any:
        if not self.rules:
            return 1.0
        # from the first factor, not from 1.0: in a compiled step that saves an op
        first = self.rules[0]
        result: Any = checked_multiplier(first, first(ctx))
        for rule in self.rules[1:]:
            result = result * checked_multiplier(rule, rule(ctx))
        return result


def compose(*rules: LRRule) -> Product:
    """The product of ``rules``; nested products are flattened."""
    flat: list[LRRule] = []
    for rule in rules:
        flat.extend(rule.rules if isinstance(rule, Product) else (rule,))
    return Product(tuple(flat))
