"""``unfreeze validate``: check schedule files, reporting every problem with its location."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from ..errors import ConfigError
from ..loading import load_schedule
from ._common import EXIT_BAD_INPUT, config_message, describe_schedule, guarded, make_console

__all__ = ["validate"]


Checked = tuple[list[str], list[dict[str, str]], list[str]]


def check(path: Path) -> Checked:
    """``(description lines, problems, hints)`` of one schedule file; no problems means
    valid. A hint (such as "Run 'unfreeze plugins' ...") is advice, not a problem: it is
    never counted among them."""
    if not path.exists():
        return [], [{"path": "", "message": f"no such file: {path}"}], []
    if path.is_dir():
        return [], [{"path": "", "message": f"{path} is a folder, not a .toml or .json file"}], []
    try:
        schedule = load_schedule(path)
    except ConfigError as exc:
        problems = [{"path": p.path, "message": p.message} for p in exc.problems]
        text = config_message(exc)
        hinted = any("unfreeze plugins" in p["message"] for p in problems)
        hints = [text.splitlines()[-1]] if "unfreeze plugins" in text and not hinted else []
        return [], problems, hints
    return describe_schedule(schedule), [], []


@click.command(short_help="Check schedule files, reporting every problem.")
@click.argument("schedules", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@guarded
def validate(schedules: tuple[Path, ...], as_json: bool) -> None:
    """Check SCHEDULES (.toml or .json files) and report every problem at once.

    Each problem is shown with its location in the file, for example
    'policy.any_of[1].patience: must be >= 0, got -1'. A type that is not found may
    come from a plugin that is not installed: 'unfreeze plugins' lists what is.

    Exit status: 0 when every file is valid, 2 otherwise.

    Example: unfreeze validate schedule.toml
    """
    results = [(path, *check(path)) for path in schedules]
    if as_json:
        out = [
            {"file": str(path), "valid": not problems, "problems": problems}
            | ({"hints": hints} if hints else {})
            for path, _, problems, hints in results
        ]
        click.echo(json.dumps(out if len(out) > 1 else out[0], indent=2))
    else:
        console = make_console()
        for path, lines, problems, hints in results:
            name = escape(str(path))
            if not problems:
                console.print(f"[green]valid[/]  {name}")
                for line in lines:
                    console.print(f"  {escape(line)}")
                continue
            count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
            console.print(f"[bold red]invalid[/]  {name}: {count}")
            for p in problems:
                where = f"[bold]{escape(p['path'])}[/]: " if p["path"] else ""
                console.print(f"  {where}{escape(p['message'])}", soft_wrap=True)
            for hint in hints:
                console.print(f"  [dim]hint:[/] {escape(hint)}", soft_wrap=True)
    if any(problems for _, _, problems, _ in results):
        sys.exit(EXIT_BAD_INPUT)
