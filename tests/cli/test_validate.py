"""``unfreeze validate``: every problem with its location, exit status 0 only when valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from unfreeze_core.cli import main

from .helpers import RunCli

EXPECTED_PROBLEMS = [
    ("bogus", "unknown key 'bogus'"),
    ("policy.any_of[0].patience", "must be >= 0, got -1"),
    ("policy.any_of[1].type", "unknown policy type 'platoo'; did you mean 'plateau'?"),
    ("rules[0].steps", "missing (required)"),
]


def test_valid_schedule_exits_0_and_says_what_it_does(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["validate", str(files["good"])])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid ")
    assert "plateau()" in result.output  # patience=1 is the default, so not shown
    assert "watches val_loss" in result.output
    assert "discriminative(factor=2.0)" in result.output


def test_every_problem_is_reported_with_its_location(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["validate", str(files["bad"])])
    assert result.exit_code == 2
    assert "4 problems" in result.output
    for path, message in EXPECTED_PROBLEMS:
        assert f"{path}: {message}" in result.output
    assert "unfreeze plugins" in result.output  # unknown types point to the plugin list
    assert "Traceback" not in result.output


def test_json_output_lists_the_problems(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["validate", "--json", str(files["bad"]), str(files["good"])])
    assert result.exit_code == 2
    reports = json.loads(result.output)
    assert [r["valid"] for r in reports] == [False, True]
    assert [(p["path"], p["message"].split(";")[0]) for p in reports[0]["problems"]] == [
        (path, message.split(";")[0]) for path, message in EXPECTED_PROBLEMS
    ]
    assert reports[1]["problems"] == []


def test_unreadable_files_are_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("version = 1\n[policy\n")
    yaml = tmp_path / "schedule.yaml"
    yaml.write_text("policy: {}")
    result = CliRunner().invoke(
        main, ["validate", str(broken), str(yaml), str(tmp_path / "missing.json")]
    )
    assert result.exit_code == 2
    assert "not valid TOML" in result.output
    assert "unknown file type '.yaml'" in result.output
    assert "no such file" in result.output


def test_validate_in_a_subprocess(files: dict[str, Path], run_cli: RunCli) -> None:
    ok = run_cli("validate", str(files["good"]), str(files["fixed"]))
    assert ok.returncode == 0, ok.stderr
    assert [line.split()[0] for line in ok.stdout.splitlines() if not line.startswith(" ")] == [
        "valid",
        "valid",
    ]
    bad = run_cli("validate", str(files["bad"]))
    assert bad.returncode == 2
    assert "policy.any_of[0].patience: must be >= 0, got -1" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr


def test_a_version_mismatch_does_not_hide_the_other_problems(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text(
        'version = 2\nbogus = 1\n[policy]\nany_of = [{ type = "fixed_epoch", at = [3, 5, 0] }]\n'
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "3 problems" in result.output
    assert "version: must be the integer 1" in result.output
    assert "bogus: unknown key 'bogus'" in result.output
    # an element of a list reads as at[2], not 'at: [2] ...'
    assert "policy.any_of[0].at[2]: must be >= 1, got 0" in result.output


def test_the_plugins_hint_is_not_counted_as_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unfreeze_core.cli import validate as command
    from unfreeze_core.errors import ConfigError, Problem

    def fails(path: Path) -> None:
        raise ConfigError([Problem("policy.type", "unknown policy type 'x'")])

    monkeypatch.setattr(command, "load_schedule", fails)
    path = tmp_path / "s.toml"
    path.write_text("version = 1\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "1 problem" in result.output and "2 problems" not in result.output
    assert "hint: Run 'unfreeze plugins'" in result.output
    report = json.loads(CliRunner().invoke(main, ["validate", "--json", str(path)]).output)
    assert len(report["problems"]) == 1
    assert report["hints"][0].startswith("Run 'unfreeze plugins'")


def test_a_real_unknown_type_counts_once(files: dict[str, Path]) -> None:
    report = json.loads(CliRunner().invoke(main, ["validate", "--json", str(files["bad"])]).output)
    assert len(report["problems"]) == len(EXPECTED_PROBLEMS)
    assert "hints" not in report  # the engine's message already says it
