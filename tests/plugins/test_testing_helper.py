"""``unfreeze_core.testing``: what plugin authors use in their own tests."""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

import pytest

from unfreeze_core import FixedEpoch, hookimpl
from unfreeze_core.errors import DuplicateNameError
from unfreeze_core.plugins import PluginError, get_registry, list_plugins
from unfreeze_core.testing import register_plugin

if TYPE_CHECKING:
    from .conftest import FakeSite


def named(name: str) -> type:
    """``FixedEpoch`` under another name: a class declares the name it is registered as."""
    return type(f"FixedEpoch_{name}", (FixedEpoch,), {"type_name": name})


def policy_plugin(*names: str) -> types.SimpleNamespace:
    def register_policies(register: Any) -> None:
        for name in names:
            register(name, named(name))

    return types.SimpleNamespace(register_policies=hookimpl(register_policies))


def test_register_plugin_lasts_for_the_block_and_nests() -> None:
    before = get_registry()
    with register_plugin(policy_plugin("outer"), name="outer") as outer:
        assert outer is get_registry()
        assert outer.get("policy", "outer").provider == "outer"
        with register_plugin(policy_plugin("inner"), name="inner", distribution="d", version="2"):
            assert {"outer", "inner"} <= set(get_registry().names("policy"))
            assert get_registry().get("policy", "inner").provided_by == "d 2"
            assert [i.name for i in list_plugins()] == ["outer", "inner"]
        assert get_registry().find("policy", "inner") is None
        assert get_registry().find("policy", "outer") is not None
    assert get_registry() is before
    assert get_registry().find("policy", "outer") is None


def test_register_plugin_restores_the_state_when_the_block_raises() -> None:
    before = get_registry()
    with pytest.raises(ZeroDivisionError), register_plugin(policy_plugin("temporary")):
        1 / 0  # noqa: B018
    assert get_registry() is before


def test_register_plugin_leaves_installed_plugins_out_unless_asked(fake_site: FakeSite) -> None:
    fake_site.add_policy_plugin("unfreeze-fake-a", "1.0", "installed_one")
    with register_plugin(policy_plugin("mine")):
        assert get_registry().find("policy", "installed_one") is None
    with register_plugin(policy_plugin("mine"), installed=True):
        assert get_registry().find("policy", "installed_one") is not None
        assert get_registry().find("policy", "mine") is not None


def test_register_plugin_fails_loudly_on_a_misspelled_hook() -> None:
    class Typo:
        @hookimpl
        def register_lr_rule(self, register: Any) -> None: ...

    expected = r"'register_lr_rule' \(did you mean 'register_lr_rules'"
    with pytest.raises(PluginError, match=expected), register_plugin(Typo()):
        pass


def test_register_plugin_fails_loudly_on_a_raising_hook_and_a_taken_name() -> None:
    def register_policies(register: Any) -> None:
        raise RuntimeError("bad config")

    broken = types.SimpleNamespace(register_policies=hookimpl(register_policies))
    with (
        pytest.raises(PluginError, match="raised in its register_policies hook: RuntimeError"),
        register_plugin(broken, name="broken"),
    ):
        pass
    with (
        pytest.raises(DuplicateNameError, match="'plateau' is registered by unfreeze-core"),
        register_plugin(policy_plugin("plateau"), name="takes-plateau"),
    ):
        pass


def test_register_plugin_refuses_hook_wrappers() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def register_policies(self, register: Any) -> Any:
            return (yield)

    with pytest.raises(PluginError, match="as a hook wrapper"), register_plugin(Wrapper()):
        pass


def test_a_plugin_registered_straight_on_the_manager_is_collected_too() -> None:
    from unfreeze_core.plugins import get_plugin_manager

    get_plugin_manager().register(policy_plugin("direct"), name="direct-plugin")
    entry = get_registry().get("policy", "direct")
    assert (entry.provider, entry.plugin) == ("direct-plugin", "direct-plugin")
