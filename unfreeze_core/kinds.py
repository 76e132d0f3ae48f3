"""The three kinds of named component, described once.

Everything that differs between policies, LR rules and groupings (the word used in
messages, the hook that registers them, the options ``register()`` takes, the key in
``unfreeze plugins --json``, the title in the reference docs) is read from
:data:`KINDS`, never from a table of its own.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["FIELD_KINDS", "KINDS", "ComponentKind", "Kind", "kind_of_field"]

Kind = Literal["policy", "rule", "grouping"]


@attrs.frozen
class ComponentKind:
    """One kind of component.

    Attributes:
        name: ``"policy"``, ``"rule"`` or ``"grouping"``: the singular in messages.
        plural: the plural in messages (``"LR rules"``).
        title: the heading of its section in the reference docs.
        hook: the hook that registers names of this kind.
        options: the keyword options that hook's ``register()`` accepts.
        key: the key listing these names in ``unfreeze plugins --json``.
        article: how the reference docs introduce one (``"a policy table"``).
        protocol: the methods every component of this kind has (``"__call__"``: it is
            callable); a factory's result is checked for them when a config is read.
    """

    name: Kind
    plural: str
    title: str
    hook: str
    options: tuple[str, ...]
    key: str
    article: str
    protocol: tuple[str, ...] = ()


KINDS: dict[Kind, ComponentKind] = {
    "policy": ComponentKind(
        "policy", "policies", "Policies", "register_policies", ("shorthand",),
        "policies", "a policy table", ("init", "update"),
    ),
    "rule": ComponentKind(
        "rule", "LR rules", "LR rules", "register_lr_rules", ("shorthand",),
        "lr_rules", "an LR rule table", ("__call__",),
    ),
    "grouping": ComponentKind(
        "grouping", "groupings", "Groupings", "register_groupings", (),
        "groupings", "a grouping (see Groupings)", ("resolve",),
    ),
}

#: ``arg(kind=...)`` values: the component kind a field holds, and whether it is a list.
FIELD_KINDS: dict[str, tuple[Kind, bool]] = {
    "policy": ("policy", False),
    "policies": ("policy", True),
    "rule": ("rule", False),
    "rules": ("rule", True),
    "grouping": ("grouping", False),
}


def kind_of_field(field_kind: str) -> tuple[Kind, bool]:
    """``("policy", True)`` for a field declared ``arg(kind="policies")``."""
    return FIELD_KINDS[field_kind]
