"""The ``unfreeze`` command. Each subcommand lives in its own module of this package."""

from __future__ import annotations

import click

from .demo import demo

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unfreeze-core")
def main() -> None:
    """Progressive unfreezing for Keras: run the demo, check and replay schedules.

    Exit status: 0 ok, 1 the run failed, 2 bad input.
    """


main.add_command(demo)
