"""Discovery, environment control, provenance and failure isolation, with fake
distributions (the ``fake_site`` fixture); ``test_installed.py`` repeats the main
points with real installs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from unfreeze_core import load_schedule
from unfreeze_core.errors import ConfigError, DuplicateNameError, UnknownTypeError
from unfreeze_core.plugins import (
    PluginError,
    PluginWarning,
    get_plugin_manager,
    get_registry,
    list_plugins,
    load_plugins,
)
from unfreeze_core.registry import Entry, Registry

if TYPE_CHECKING:
    from .conftest import FakeSite


def statuses() -> dict[str, str]:
    return {i.distribution: i.status for i in list_plugins()}


def test_an_installed_plugin_is_found_and_its_names_know_their_distribution(
    fake_site: FakeSite,
) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.2.3", "every_other")
    entry = get_registry().get("policy", "every_other")
    assert (entry.provider, entry.version, entry.plugin) == (
        "unfreeze-fake-a", "1.2.3", "unfreeze_fake_a"
    )
    schedule = load_schedule({"policy": {"type": "every_other", "every": 2}})
    assert [r.stage for r in schedule.dry_run(2, {"loss": [1.0] * 3})] == [1, 1, 2]
    (info,) = list_plugins()
    assert (info.distribution, info.version, info.status) == ("unfreeze-fake-a", "1.2.3", "loaded")
    assert info.hooks == ("register_policies",)
    builtin = get_registry().get("policy", "plateau")
    assert (builtin.provider, builtin.plugin) == (
        "unfreeze-core", "unfreeze_core.default_plugins.builtins"
    )


def test_discovery_is_lazy_and_explicit(fake_site: FakeSite, tmp_path: Path) -> None:
    """Importing unfreeze-core and building schedules in Python imports no plugin; the
    first registry use does (checked in a fresh interpreter, with a real ``.dist-info``
    on ``sys.path``)."""
    marker = tmp_path / "imported"
    fake_site.add(
        "unfreeze-marker", "0.1", {"marker": "unfreeze_marker"},
        {"unfreeze_marker": f"open({str(marker)!r}, 'w').close()\n"},
    )
    script = textwrap.dedent(
        f"""
        import os
        import unfreeze_core, unfreeze_core.plugins, unfreeze_core.config
        from unfreeze_core import Schedule, Plateau, Warmup
        Schedule(Plateau(patience=1), rules=[Warmup(steps=2)]).dry_run(2, {{"loss": [1, 1]}})
        print(os.path.exists({str(marker)!r}))
        from unfreeze_core.plugins import get_registry
        print(get_registry().get("policy", "plateau").provider)
        print(os.path.exists({str(marker)!r}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(fake_site.root), "PATH": ""},
    ).stdout.split()
    assert out == ["False", "unfreeze-core", "True"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"unfreeze-fake-a": "loaded", "unfreeze-fake-b": "loaded"}),
        ("", {"unfreeze-fake-a": "not enabled", "unfreeze-fake-b": "not enabled"}),
        ("unfreeze-fake-b", {"unfreeze-fake-a": "not enabled", "unfreeze-fake-b": "loaded"}),
        (" Unfreeze_Fake.A , ", {"unfreeze-fake-a": "loaded", "unfreeze-fake-b": "not enabled"}),
    ],
)
def test_unfreeze_load_plugins(
    fake_site: FakeSite, monkeypatch: pytest.MonkeyPatch, value: str | None,
    expected: dict[str, str],
) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    fake_site.add_policy_plugin("unfreeze-fake-b", "1.0", "policy_b")
    if value is not None:
        monkeypatch.setenv("UNFREEZE_LOAD_PLUGINS", value)
    assert statuses() == expected
    registered = {n for n in get_registry().names("policy") if n.startswith("policy_")}
    assert registered == {
        "policy_" + d[-1] for d, status in expected.items() if status == "loaded"
    }
    not_loaded = [d for d, s in expected.items() if s != "loaded"]
    for dist in not_loaded:  # never imported
        assert dist.replace("-", "_") not in sys.modules
    if not_loaded:
        with pytest.raises(UnknownTypeError) as info:
            load_schedule({"policy": {"type": "policy_" + not_loaded[0][-1]}})
        assert "UNFREEZE_LOAD_PLUGINS is set" in str(info.value)


def test_unfreeze_block_plugins_blocks_by_distribution_or_entry_point_name(
    fake_site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    fake_site.add_policy_plugin("unfreeze-fake-b", "1.0", "policy_b")
    fake_site.add_policy_plugin("unfreeze-fake-c", "1.0", "policy_c")
    monkeypatch.setenv("UNFREEZE_BLOCK_PLUGINS", "unfreeze-fake-a,unfreeze_fake_c")
    monkeypatch.setenv("UNFREEZE_LOAD_PLUGINS", "unfreeze-fake-a,unfreeze-fake-b")
    assert statuses() == {
        "unfreeze-fake-a": "blocked",  # blocking wins over loading
        "unfreeze-fake-b": "loaded",
        "unfreeze-fake-c": "not enabled",
    }
    assert "unfreeze_fake_a" not in sys.modules
    pm = get_plugin_manager()
    assert pm.is_blocked("unfreeze_fake_a") and pm.is_blocked("unfreeze_fake_c")
    with pytest.raises(UnknownTypeError, match="UNFREEZE_BLOCK_PLUGINS blocks"):
        load_schedule({"policy": {"type": "policy_a"}})


def test_load_plugins_naming_a_distribution_that_is_not_installed_warns(
    fake_site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    monkeypatch.setenv("UNFREEZE_LOAD_PLUGINS", "unfreeze-fake-a,unfreeze-typo")
    with pytest.warns(PluginWarning, match=r"names unfreeze-typo, .*installed: unfreeze-fake-a"):
        load_plugins()
    assert statuses() == {"unfreeze-fake-a": "loaded"}


def test_a_plugin_that_fails_to_import_is_named_and_the_others_load(
    fake_site: FakeSite,
) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    fake_site.add(
        "unfreeze-broken", "2.0.1", {"broken": "unfreeze_broken"},
        {"unfreeze_broken": "import a_dependency_that_is_not_installed\n"},
    )
    with pytest.warns(PluginWarning) as record:
        registry = get_registry()
    (message,) = [str(w.message) for w in record]
    assert message == (
        "plugin 'broken' from unfreeze-broken 2.0.1 failed to import: ModuleNotFoundError: "
        "No module named 'a_dependency_that_is_not_installed'. To disable it, set "
        "UNFREEZE_BLOCK_PLUGINS=unfreeze-broken (or uninstall it: pip uninstall unfreeze-broken)."
    )
    assert registry.find("policy", "policy_a") is not None
    assert statuses() == {"unfreeze-fake-a": "loaded", "unfreeze-broken": "failed"}
    assert [str(f) for f in registry.failures] == [message]
    with pytest.raises(UnknownTypeError) as info:
        load_schedule({"policy": {"type": "from_broken"}})
    assert "1 plugin(s) failed to load: unfreeze-broken (failed to import)" in str(info.value)


def test_strict_loading_raises_the_plugin_error(fake_site: FakeSite) -> None:
    fake_site.add(
        "unfreeze-broken", "2.0.1", {"broken": "unfreeze_broken"},
        {"unfreeze_broken": "raise RuntimeError('boom at import')\n"},
    )
    with pytest.raises(PluginError, match="unfreeze-broken 2.0.1 failed to import") as info:
        load_plugins(strict=True)
    assert (info.value.distribution, info.value.version) == ("unfreeze-broken", "2.0.1")
    assert isinstance(info.value.cause, RuntimeError)


def test_a_hook_that_raises_registers_nothing_and_the_others_load(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    fake_site.add(
        "unfreeze-raising", "0.3", {"raising": "unfreeze_raising"},
        {
            "unfreeze_raising": """
            from unfreeze_core import FixedEpoch, hookimpl

            @hookimpl
            def register_policies(register):
                register("half_done", lambda **config: FixedEpoch(**config))
                raise KeyError("missing setting")
            """
        },
    )
    with pytest.warns(PluginWarning) as record:
        registry = get_registry()
    (message,) = [str(w.message) for w in record]
    assert message.startswith(
        "plugin 'raising' from unfreeze-raising 0.3 raised in its register_policies hook: "
        "KeyError: 'missing setting'."
    )
    assert "UNFREEZE_BLOCK_PLUGINS=unfreeze-raising" in message
    assert registry.find("policy", "half_done") is None  # nothing half-registered
    assert registry.find("policy", "policy_a") is not None
    (failure,) = registry.failures
    assert failure.hook == "register_policies"


def test_the_same_name_from_two_distributions_is_an_error_naming_both(
    fake_site: FakeSite,
) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "shared", "only_a")
    fake_site.add_policy_plugin("unfreeze-fake-b", "2.0", "shared", "only_b")
    with pytest.warns(PluginWarning) as record:
        registry = get_registry()
    expected = (
        "policy name 'shared' is registered by unfreeze-fake-a 1.0 and by unfreeze-fake-b "
        "2.0; a name must be registered once. Uninstall one of them, or block one with "
        "UNFREEZE_BLOCK_PLUGINS=unfreeze-fake-b."
    )
    assert [str(w.message) for w in record] == [expected]
    with pytest.raises(ConfigError) as config_error:
        load_schedule({"policy": {"type": "shared", "every": 1}})
    assert str(config_error.value) == f"policy.type: {expected}"
    with pytest.raises(DuplicateNameError) as info:
        registry.get("policy", "shared")
    assert [e.provider for e in info.value.entries] == ["unfreeze-fake-a", "unfreeze-fake-b"]
    assert "shared" not in registry.names("policy")
    assert registry.find("policy", "only_a") and registry.find("policy", "only_b")


def test_a_plugin_cannot_take_a_built_in_name(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "plateau")
    with pytest.warns(PluginWarning, match="by unfreeze-core .* and by unfreeze-fake-a 1.0"):
        get_registry()
    with pytest.raises(ConfigError, match="UNFREEZE_BLOCK_PLUGINS=unfreeze-fake-a"):
        load_schedule({"policy": {"type": "plateau"}})
    assert load_schedule({"policy": {"type": "fixed_epoch", "every": 1}})


def test_strict_loading_makes_a_duplicate_name_raise(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "shared")
    fake_site.add_policy_plugin("unfreeze-fake-b", "2.0", "shared")
    load_plugins(strict=True)
    with pytest.raises(DuplicateNameError, match="unfreeze-fake-a 1.0 and by unfreeze-fake-b"):
        get_registry()


def test_a_misspelled_hook_is_caught_by_check_pending(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    fake_site.add(
        "unfreeze-typo", "0.9", {"typo": "unfreeze_typo"},
        {
            "unfreeze_typo": """
            from unfreeze_core import FixedEpoch, hookimpl

            @hookimpl
            def register_policy(register):
                register("typo_policy", FixedEpoch)
            """
        },
    )
    with pytest.warns(PluginWarning) as record:
        load_plugins()
    (message,) = [str(w.message) for w in record]
    assert message.startswith(
        "plugin 'typo' from unfreeze-typo 0.9 implements unknown hook 'register_policy' "
        "(did you mean 'register_policies'?)"
    )
    assert "UNFREEZE_BLOCK_PLUGINS=unfreeze-typo" in message
    assert statuses() == {"unfreeze-fake-a": "loaded", "unfreeze-typo": "failed"}
    assert get_plugin_manager().get_plugin("typo") is None
    get_plugin_manager().check_pending()  # nothing pending any more
    assert get_registry().find("policy", "policy_a") is not None


def test_a_hook_asking_for_an_argument_that_does_not_exist_is_named(fake_site: FakeSite) -> None:
    fake_site.add(
        "unfreeze-badarg", "1.0", {"badarg": "unfreeze_badarg"},
        {
            "unfreeze_badarg": """
            from unfreeze_core import hookimpl

            @hookimpl
            def register_policies(register, registry):
                pass
            """
        },
    )
    with pytest.raises(PluginError, match="unfreeze-badarg 1.0 is not a valid plugin") as info:
        load_plugins(strict=True)
    assert "registry" in str(info.value)


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        ("register('', FixedEpoch)", "ValueError: register() needs a non-empty name"),
        ("register('x', 42)", "TypeError: register('x', ...) needs a callable factory, got 42"),
        ("register('x', FixedEpoch, monotone=False)",
         "TypeError: register() for a policy takes no argument 'monotone'; it takes name, "
         "factory, shorthand"),
        ("register('x', FixedEpoch, shorthand=True, order=1)",
         "TypeError: register() for a policy takes no argument 'order'"),
    ],
)
def test_misuse_of_register_is_reported_with_the_plugin(
    fake_site: FakeSite, call: str, problem: str
) -> None:
    fake_site.add(
        "unfreeze-misuse", "1.0", {"misuse": "unfreeze_misuse"},
        {
            "unfreeze_misuse": f"""
            from unfreeze_core import FixedEpoch, hookimpl

            @hookimpl
            def register_policies(register):
                {call}
            """
        },
    )
    with pytest.warns(PluginWarning, match="unfreeze-misuse 1.0 raised in its register_policies"):
        registry = get_registry()
    assert problem in str(registry.failures[0])


def test_registry_add_raises_on_a_duplicate_by_default() -> None:
    registry = Registry()

    def factory(**config: Any) -> None:
        return None

    registry.add(Entry("policy", "x", factory, "dist-a", "1"))
    with pytest.raises(DuplicateNameError, match="by dist-a 1 and by dist-b 2"):
        registry.add(Entry("policy", "x", factory, "dist-b", "2"))
    registry.add(Entry("rule", "x", factory, "dist-b", "2"))  # another kind: fine
    registry.add(Entry("rule", "y", factory, "dist-a", "1"))
    with pytest.raises(DuplicateNameError, match="registered 2 times by dist-a 1"):
        registry.add(Entry("rule", "y", factory, "dist-a", "1"))


def test_systemexit_in_a_register_hook_is_a_failed_plugin(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "policy_a")
    fake_site.add(
        "unfreeze-quitter", "0.1", {"quitter": "unfreeze_quitter"},
        {
            "unfreeze_quitter": """
            from unfreeze_core import hookimpl

            @hookimpl
            def register_policies(register):
                raise SystemExit(2)
            """
        },
    )
    with pytest.warns(PluginWarning, match=r"plugin 'quitter' from unfreeze-quitter 0\.1 raised "
                      r"in its register_policies hook: SystemExit: 2\."):
        registry = get_registry()
    assert registry.get("policy", "policy_a").provider == "unfreeze-fake-a"
    assert {i.distribution: i.status for i in list_plugins()} == {
        "unfreeze-fake-a": "loaded", "unfreeze-quitter": "failed"
    }
