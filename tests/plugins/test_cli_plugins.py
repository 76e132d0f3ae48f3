"""``unfreeze plugins``: the table, ``--all``, ``--json``, exit status."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from unfreeze_core import plugins
from unfreeze_core.cli import main

if TYPE_CHECKING:
    from .conftest import FakeSite


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["plugins", *args], env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_lists_installed_plugins_with_hooks_and_names(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.2.3", "policy_a", "policy_a2")
    code, out = run()
    assert code == 0
    row = next(line for line in out.splitlines() if "unfreeze-fake-a" in line)
    assert "1.2.3" in row and "loaded" in row and "register_policies" in row
    assert "policies: policy_a, policy_a2" in row
    assert "unfreeze-core" not in out  # built-ins only with --all
    code, out = run("--all")
    assert code == 0 and "unfreeze-core" in out and "plateau" in out


def test_json_output(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.2.3", "policy_a")
    code, out = run("--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "name": "unfreeze_fake_a",
            "distribution": "unfreeze-fake-a",
            "version": "1.2.3",
            "status": "loaded",
            "hooks": ["register_policies"],
            "names": {"policies": ["policy_a"], "lr_rules": [], "groupings": []},
            "problems": [],
        }
    ]
    code, out = run("--json", "--all")
    builtin = json.loads(out)[0]
    assert builtin["distribution"] == "unfreeze-core" and builtin["status"] == "built-in"
    assert "warmup" in builtin["names"]["lr_rules"] and "auto" in builtin["names"]["groupings"]


def test_no_plugins_installed(fake_site: FakeSite) -> None:
    code, out = run()
    assert code == 0 and "No plugins installed" in out
    assert run("--json") == (0, "[]\n")


def test_disabled_plugins_are_listed_with_their_status(
    fake_site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    fake_site.add_policy_plugin("unfreeze-fake-b", "1.0", "policy_b")
    monkeypatch.setenv("UNFREEZE_LOAD_PLUGINS", "unfreeze-fake-a,unfreeze-fake-b")
    monkeypatch.setenv("UNFREEZE_BLOCK_PLUGINS", "unfreeze-fake-b")
    code, out = run("--json")
    rows = {r["distribution"]: r for r in json.loads(out)}
    assert code == 0
    assert rows["unfreeze-fake-a"]["names"]["policies"] == ["policy_a"]
    assert rows["unfreeze-fake-b"]["status"] == "blocked"
    assert rows["unfreeze-fake-b"]["names"]["policies"] == []
    assert rows["unfreeze-fake-b"]["hooks"] == []
    code, out = run()
    assert "UNFREEZE_BLOCK_PLUGINS blocks unfreeze-fake-b" in out


def test_failures_and_conflicts_are_printed_and_exit_1(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "shared")
    fake_site.add_policy_plugin("unfreeze-fake-b", "1.0", "shared", "fine")
    fake_site.add(
        "unfreeze-broken", "2.0", {"broken": "unfreeze_broken"},
        {"unfreeze_broken": "raise ImportError('needs torch')\n"},
    )
    code, out = run()  # no warning: each problem is printed once, as an error line
    assert code == 1
    assert "error: plugin 'broken' from unfreeze-broken 2.0 failed to import: ImportError: " \
        "needs torch." in out
    assert "error: policy name 'shared' is registered by unfreeze-fake-a 1.0 and by " \
        "unfreeze-fake-b 1.0" in out
    code, out = run("--json")
    rows = {r["distribution"]: r for r in json.loads(out)}
    assert code == 1
    assert rows["unfreeze-broken"]["status"] == "failed"
    assert rows["unfreeze-fake-b"]["names"]["policies"] == ["fine", "shared"]
    assert len(rows["unfreeze-fake-b"]["problems"]) == 1
    assert "registered by" in rows["unfreeze-fake-b"]["problems"][0]


def test_the_fix_a_duplicate_name_message_suggests_works(
    fake_site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apply the setting the message names, exactly as worded: the conflict is gone, the
    name is the other distribution's, and the command exits with 0."""
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "shared")
    fake_site.add_policy_plugin("unfreeze-fake-b", "1.0", "shared")
    code, out = run("--json")
    assert code == 1
    (problem,) = {p for row in json.loads(out) for p in row["problems"]}
    variable, value = re.search(r"block one with (UNFREEZE_\w+)=(\S+)\.$", problem).groups()  # type: ignore[union-attr]
    monkeypatch.setenv(variable, value)
    plugins.reset()
    code, out = run("--json")
    assert code == 0
    rows = {r["distribution"]: r for r in json.loads(out)}
    assert (rows["unfreeze-fake-a"]["status"], rows["unfreeze-fake-b"]["status"]) == (
        "loaded", "blocked"
    )
    assert rows["unfreeze-fake-a"]["names"]["policies"] == ["shared"]
    assert plugins.get_registry().get("policy", "shared").provider == "unfreeze-fake-a"


def test_usage_errors_exit_2() -> None:
    assert run("--no-such-option")[0] == 2
