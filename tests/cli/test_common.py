"""What the subcommands share: help with examples, exit statuses, light imports."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from unfreeze_core.cli import COMMANDS, main
from unfreeze_core.cli._common import guarded
from unfreeze_core.errors import ConfigError, Problem


@pytest.mark.parametrize("name", ["demo", "validate", "plan", "plot"])
def test_every_subcommand_has_help_with_an_example(name: str) -> None:
    assert name in COMMANDS
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"unfreeze {name}" in result.output
    assert "Example" in result.output
    assert "Exit status" in result.output


def test_the_group_help_lists_them() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("demo", "validate", "plan", "plot"):
        assert f"  {name} " in result.output


@click.command()
@click.argument("what")
@guarded
def _failing(what: str) -> None:
    if what == "config":
        raise ConfigError([Problem("policy.patience", "must be >= 0, got -1"),
                           Problem("rules[0].steps", "missing (required)")])
    raise RuntimeError("disk on fire")


def test_bad_input_exits_2_and_a_failure_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNFREEZE_DEBUG", raising=False)
    bad = CliRunner().invoke(_failing, ["config"])
    assert bad.exit_code == 2
    assert "2 problems:\n  policy.patience: must be >= 0, got -1\n  rules[0].steps" in bad.output
    failed = CliRunner().invoke(_failing, ["other"])
    assert failed.exit_code == 1
    assert "the run failed: RuntimeError: disk on fire" in failed.output
    assert "UNFREEZE_DEBUG=1" in failed.output
    monkeypatch.setenv("UNFREEZE_DEBUG", "1")
    debug = CliRunner().invoke(_failing, ["other"])
    assert isinstance(debug.exception, RuntimeError)


def test_the_light_commands_import_no_framework() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from unfreeze_core.cli import main\n"
        "for name in ('validate', 'plan', 'plot', 'demo'):\n"
        "    assert CliRunner().invoke(main, [name, '--help']).exit_code == 0\n"
        "import unfreeze_core.cli.history, unfreeze_core.timeline, unfreeze_core.demo\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'matplotlib', 'sklearn')]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_python_dash_m_runs_the_same_command() -> None:
    result = subprocess.run([sys.executable, "-m", "unfreeze_core.cli", "validate", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: unfreeze validate")
