"""Plugins that misbehave on purpose, installed for real (``hostile/``, one venv per
session): each failure is recorded against the plugin's distribution and version, the
other plugins keep loading, and ``unfreeze plugins`` says what to do. The messages are
the ones docs/plugins.md quotes under "When a plugin misbehaves".

Every test chooses the plugins it loads with ``UNFREEZE_LOAD_PLUGINS``, so all the
hostile distributions can share one venv.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .venvs import Venv

TWINS = "unfreeze-twin-a,unfreeze-twin-b"


def listing(venv: Venv, env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """``unfreeze plugins --json``: exit status and rows by distribution."""
    result = venv.cli("plugins", "--json", env=env)
    assert result.stdout.startswith("["), result.stdout + result.stderr
    return result.returncode, {r["distribution"]: r for r in json.loads(result.stdout)}


LOAD = """
import json, warnings
from unfreeze_core import load_schedule
warnings.simplefilter("ignore")
out = {{}}
for name, config in {configs!r}.items():
    try:
        schedule = load_schedule(config)
        records = schedule.dry_run(3, {{"loss": [1.0, 0.5, 0.2]}}, steps_per_epoch=2)
        out[name] = ["ok", [r.stage for r in records]]
    except BaseException as exc:
        out[name] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


def load(venv: Venv, env: dict[str, str], **configs: dict[str, Any]) -> dict[str, list[Any]]:
    """Load and dry-run each schedule in one process: ``["ok", stages]`` or
    ``[exception type, message]`` for each."""
    return venv.script(LOAD.format(configs=configs), env=env)  # type: ignore[no-any-return]


FIXED = {"policy": {"type": "fixed_epoch", "every": 1}}


def test_systemexit_at_import_is_a_failed_plugin_not_the_end_of_the_process(
    hostile_venv: Venv,
) -> None:
    env = {"UNFREEZE_LOAD_PLUGINS": "unfreeze-hostile-exit,unfreeze-twin-a"}
    code, rows = listing(hostile_venv, env)
    assert code == 1
    exit_row = rows["unfreeze-hostile-exit"]
    assert (exit_row["version"], exit_row["status"]) == ("0.1.0", "failed")
    assert exit_row["problems"] == [
        "plugin 'hostile_exit' from unfreeze-hostile-exit 0.1.0 failed to import: "
        "SystemExit: 3. To disable it, set UNFREEZE_BLOCK_PLUGINS=unfreeze-hostile-exit (or "
        "uninstall it: pip uninstall unfreeze-hostile-exit)."
    ]
    assert rows["unfreeze-twin-a"]["status"] == "loaded"  # the others keep loading
    out = load(hostile_venv, env, fixed=FIXED, twin={"policy": {"type": "twin_a", "every": 1}})
    assert out == {"fixed": ["ok", [1, 2, 3]], "twin": ["ok", [1, 2, 3]]}


def test_every_hostile_plugin_at_once_leaves_the_command_standing(hostile_venv: Venv) -> None:
    everything = "unfreeze-hostile-exit,unfreeze-hostile-int,unfreeze-hostile-factories"
    code, rows = listing(hostile_venv, {"UNFREEZE_LOAD_PLUGINS": everything})
    assert code == 1
    assert {d: r["status"] for d, r in rows.items() if r["status"] != "not enabled"} == {
        "unfreeze-hostile-exit": "failed",
        "unfreeze-hostile-int": "failed",
        "unfreeze-hostile-factories": "loaded",
    }
    table = hostile_venv.cli("plugins", env={"UNFREEZE_LOAD_PLUGINS": everything})
    assert table.returncode == 1 and "Traceback" not in table.stderr
    assert "error: plugin 'hostile_exit' from unfreeze-hostile-exit 0.1.0" in table.stdout


def test_keyboard_interrupt_at_import_still_stops_the_process(hostile_venv: Venv) -> None:
    out = hostile_venv.script(
        """
        import json
        from unfreeze_core.plugins import get_registry
        try:
            get_registry()
            print(json.dumps("loaded"))
        except KeyboardInterrupt:
            print(json.dumps("interrupted"))
        """,
        env={"UNFREEZE_LOAD_PLUGINS": "unfreeze-hostile-interrupt,unfreeze-twin-a"},
    )
    assert out == "interrupted"


def test_an_entry_point_naming_an_int_is_a_failed_plugin(hostile_venv: Venv) -> None:
    code, rows = listing(hostile_venv, {"UNFREEZE_LOAD_PLUGINS": "unfreeze-hostile-int"})
    assert code == 1
    row = rows["unfreeze-hostile-int"]
    assert (row["status"], row["hooks"]) == ("failed", [])
    assert row["problems"] == [
        "plugin 'answer' from unfreeze-hostile-int 0.2.0 implements no hook: it is int 42, "
        "not a module or object with @hookimpl functions named register_policies, "
        "register_lr_rules, register_groupings, on_stage_change. To disable it, set "
        "UNFREEZE_BLOCK_PLUGINS=unfreeze-hostile-int (or uninstall it: pip uninstall "
        "unfreeze-hostile-int)."
    ]


def test_two_distributions_with_one_entry_point_name_and_the_fix_the_message_suggests(
    hostile_venv: Venv,
) -> None:
    code, rows = listing(hostile_venv, {"UNFREEZE_LOAD_PLUGINS": TWINS})
    assert code == 1
    assert rows["unfreeze-twin-a"]["status"] == "loaded"
    twin_b = rows["unfreeze-twin-b"]
    assert twin_b["status"] == "failed"
    (problem,) = twin_b["problems"]
    assert problem.startswith(
        "plugin 'twin' from unfreeze-twin-b 2.0.0 uses the plugin name 'twin', already "
        "taken by unfreeze-twin-a 1.0.0. To disable it, set UNFREEZE_BLOCK_PLUGINS="
    )
    # apply the fix exactly as the message words it
    variable, value = re.search(r"set (UNFREEZE_\w+)=(\S+?) \(", problem).groups()  # type: ignore[union-attr]
    fixed_env = {"UNFREEZE_LOAD_PLUGINS": TWINS, variable: value}
    code, rows = listing(hostile_venv, fixed_env)
    assert code == 0
    assert {d: (r["status"], r["problems"]) for d, r in rows.items()
            if d in TWINS.split(",")} == {
        "unfreeze-twin-a": ("loaded", []),
        "unfreeze-twin-b": ("blocked", []),
    }
    out = load(hostile_venv, fixed_env, twin={"policy": {"type": "twin_a", "every": 1}})
    assert out == {"twin": ["ok", [1, 2, 3]]}


@pytest.mark.parametrize(
    ("env", "statuses"),
    [
        ({"UNFREEZE_LOAD_PLUGINS": "unfreeze-twin-b"}, ("not enabled", "loaded")),
        ({"UNFREEZE_LOAD_PLUGINS": TWINS, "UNFREEZE_BLOCK_PLUGINS": "unfreeze-twin-a"},
         ("blocked", "loaded")),
        ({"UNFREEZE_LOAD_PLUGINS": ""}, ("not enabled", "not enabled")),
    ],
    ids=["only-b-enabled", "a-blocked", "none-enabled"],
)
def test_a_twin_left_out_by_the_environment_is_no_conflict(
    hostile_venv: Venv, env: dict[str, str], statuses: tuple[str, str]
) -> None:
    code, rows = listing(hostile_venv, env)
    assert code == 0
    assert (rows["unfreeze-twin-a"]["status"], rows["unfreeze-twin-b"]["status"]) == statuses
    assert not rows["unfreeze-twin-a"]["problems"] and not rows["unfreeze-twin-b"]["problems"]
    assert rows["unfreeze-twin-a"]["names"]["policies"] == []  # twin-b's are not credited
    if statuses[1] == "loaded":  # twin-b works although twin-a took its name first
        out = load(hostile_venv, env, twin={"policy": {"type": "twin_b", "every": 1}})
        assert out == {"twin": ["ok", [1, 2, 3]]}


FACTORIES = {"UNFREEZE_LOAD_PLUGINS": "unfreeze-hostile-factories"}
WHO = "from unfreeze-hostile-factories 0.3.0"
HOW = (" This is a bug in unfreeze-hostile-factories; report it to its authors, or block it "
       "with UNFREEZE_BLOCK_PLUGINS=unfreeze-hostile-factories.")


def test_factories_that_break_their_contract_are_config_errors_naming_the_distribution(
    hostile_venv: Venv,
) -> None:
    out = load(
        hostile_venv, FACTORIES,
        forty_two={**FIXED, "groups": {"type": "forty_two"}},
        no_resolve={**FIXED, "groups": {"type": "no_resolve"}},
        raising={"policy": {"type": "raising"}},
    )
    assert out == {
        "forty_two": ["ConfigError", f"groups: the grouping 'forty_two' {WHO} returned int 42, "
                      f"which is not a grouping: it has no resolve().{HOW}"],
        "no_resolve": ["ConfigError", f"groups: the grouping 'no_resolve' {WHO} returned "
                       f"NoResolve NoResolve(), which is not a grouping: it has no "
                       f"resolve().{HOW}"],
        "raising": ["ConfigError", f"policy: the policy 'raising' {WHO} failed: RuntimeError: "
                    f"no GPU found.{HOW}"],
    }


def test_unfreeze_validate_reports_a_bad_factory_as_a_config_problem(
    hostile_venv: Venv, tmp_path: Path
) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text('version = 1\ngroups = { type = "forty_two" }\n\n'
                    '[policy]\ntype = "fixed_epoch"\nevery = 1\n')
    result = hostile_venv.cli("validate", str(path), env=FACTORIES)
    assert result.returncode == 2, result.stdout + result.stderr
    text = " ".join((result.stdout + result.stderr).split())
    assert f"the grouping 'forty_two' {WHO} returned int 42" in text


def test_components_that_break_their_contract_while_running_name_the_distribution(
    hostile_venv: Venv,
) -> None:
    out = load(
        hostile_venv, FACTORIES,
        shouty={"policy": {"type": "shouty"}},
        stringly={**FIXED, "rules": [{"type": "stringly"}]},
    )
    assert out["shouty"][0] == "ComponentError"
    assert out["shouty"][1].startswith(f"policy Shouty ({WHO}): update() returned 'READY'")
    assert out["stringly"][0] == "ComponentError"
    assert out["stringly"][1].startswith(f"LR rule Stringly ({WHO}): ")
