"""Loads cleanly, then every component it registers breaks its contract."""

import attrs

from unfreeze_core import hookimpl


def forty_two():
    """A grouping factory that returns a number (not ``ByCount(n=42)``)."""
    return 42


@attrs.frozen
class NoResolve:
    """A grouping without ``resolve``."""

    type_name = "no_resolve"


def raising():
    """A policy factory that fails."""
    raise RuntimeError("no GPU found")


@attrs.frozen
class Shouty:
    """A policy whose ``update`` returns a string instead of ``(state, ready)``."""

    type_name = "shouty"

    def init(self):
        return None

    def update(self, state, event):
        return "READY"


@attrs.frozen
class Stringly:
    """An LR rule that returns a string instead of a multiplier."""

    type_name = "stringly"

    def __call__(self, ctx):
        return "fast"


@hookimpl
def register_policies(register):
    register("raising", raising)
    register(Shouty.type_name, Shouty)


@hookimpl
def register_lr_rules(register):
    register(Stringly.type_name, Stringly)


@hookimpl
def register_groupings(register):
    register("forty_two", forty_two)
    register(NoResolve.type_name, NoResolve)
