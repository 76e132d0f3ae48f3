"""The ``unfreeze`` command. Each subcommand lives in its own module of this package and
is imported only when it runs, so ``unfreeze --help`` stays fast (no TensorFlow)."""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

# subcommand name -> "module:attribute" under unfreeze_core.cli
COMMANDS: dict[str, str] = {
    "demo": "demo:demo",
    "plan": "plan:plan",
    "plot": "plot:plot",
    "validate": "validate:validate",
    "plugins": "plugins:plugins",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: Any = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unfreeze-core")
def main() -> None:
    """Progressive unfreezing for Keras: run the demo, check and replay schedules.

    Exit status: 0 ok, 1 the run failed, 2 bad input.
    """
