"""``unfreeze plugins``: what is installed, what it registers, and what went wrong."""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import BLOCK_ENV, LOAD_ENV, PluginWarning, duplicate_message
from ..kinds import KINDS
from ..plugins import PluginInfo, get_registry, list_plugins
from ..registry import Entry

_STYLE = {"built-in": "dim", "loaded": "green", "failed": "bold red", "blocked": "yellow",
          "not enabled": "yellow"}


def describe(infos: list[PluginInfo]) -> list[dict[str, Any]]:
    """Plain data for each plugin: what ``--json`` prints."""
    registry = get_registry()
    entries: list[Entry] = list(registry)
    for conflicting in registry.conflicts.values():
        entries.extend(conflicting)
    out = []
    for info in infos:
        names: dict[str, list[str]] = {kind.key: [] for kind in KINDS.values()}
        problems = [str(info.error)] if info.error is not None else []
        for entry in entries:
            if _credited(entry, info):
                names[KINDS[entry.kind].key].append(entry.name)
        for conflicting in registry.conflicts.values():
            if any(_credited(e, info) for e in conflicting):
                problems.append(duplicate_message(conflicting))
        out.append(
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "status": info.status,
                "hooks": list(info.hooks),
                "names": {key: sorted(set(value)) for key, value in names.items()},
                "problems": list(dict.fromkeys(problems)),
            }
        )
    return out


def _credited(entry: Entry, info: PluginInfo) -> bool:
    """Whether ``info``'s plugin registered ``entry`` (two distributions may share an
    entry-point name when one of them is left out)."""
    return entry.plugin == info.name and entry.provider == info.distribution


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Include the built-in (default) plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(show_all: bool, as_json: bool) -> None:
    """List the installed plugins: distribution, version, status, hooks, names registered.

    Run this when a schedule names a type that is not found. Plugins are loaded from the
    'unfreeze_core' entry-point group; UNFREEZE_LOAD_PLUGINS (a comma list of
    distributions, empty for none) restricts which, and UNFREEZE_BLOCK_PLUGINS blocks
    some. Exit status 0 when every plugin that is to be loaded loaded and every name is
    registered once (blocked and not-enabled plugins are fine); 1 when a plugin failed
    or a name is registered twice: the lines below the table say which and what to set.

    Example: unfreeze plugins --all --json
    """
    with warnings.catch_warnings():  # each problem is printed below the table instead
        warnings.simplefilter("ignore", PluginWarning)
        rows = describe(list_plugins(builtins=show_all))
    failed = any(row["problems"] for row in rows) or bool(get_registry().conflicts)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows, show_all)
    if failed:
        sys.exit(1)


def _hooks_cell(row: dict[str, Any]) -> Text:
    """One line per hook implemented, with the names it registered."""
    keys = {kind.hook: kind.key for kind in KINDS.values()}
    lines = []
    for hook in row["hooks"]:
        names = row["names"].get(keys.get(hook, ""))
        lines.append(f"{hook}: {', '.join(names)}" if names else hook)
    return Text("\n".join(lines) or "-")


def _print_table(rows: list[dict[str, Any]], show_all: bool) -> None:
    console = Console()
    if not rows:
        console.print(
            "No plugins installed (plugins are distributions with entry points in the "
            "'unfreeze_core' group; --all also lists the built-ins)."
        )
    else:
        table = Table(title="Installed plugins" + (" and built-ins" if show_all else ""))
        table.add_column("distribution", overflow="fold", min_width=12)
        table.add_column("version", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("hooks: names registered", min_width=24)
        for row in rows:
            table.add_row(
                Text(row["distribution"]),
                Text(row["version"] or "-"),
                Text(row["status"], style=_STYLE[row["status"]]),
                _hooks_cell(row),
            )
        console.print(table)
    for row in rows:
        for problem in row["problems"]:
            console.print(Text.assemble(("error: ", "bold red"), problem))
    for note in get_registry().notes:
        if LOAD_ENV in note or BLOCK_ENV in note:
            console.print(Text(note))
