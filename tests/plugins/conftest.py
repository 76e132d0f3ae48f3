"""Fixtures for the plugin tests: a clean plugin state, and fake installed distributions.

``fake_site`` writes real ``*.dist-info`` folders (``METADATA``, ``entry_points.txt``)
and plugin modules into a temporary folder and makes ``importlib.metadata`` see only
that folder, as pluggy's own tests fake distributions; ``tests/plugins/test_installed.py``
proves the same with real ``pip install`` runs. ``hostile_venv`` installs, once per
session, the distributions under ``hostile/`` (plugins that misbehave on purpose).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from unfreeze_core import plugins

from .venvs import Venv, build_venv

HOSTILE = Path(__file__).with_name("hostile")

# the hostile distributions are installed by hostile_venv, never imported here (one of
# them raises SystemExit at import, another KeyboardInterrupt)
collect_ignore = ["hostile"]


@pytest.fixture(scope="session")
def hostile_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A venv with every distribution under ``hostile/`` installed for real."""
    folders = sorted(p.parent for p in HOSTILE.glob("*/pyproject.toml"))
    return build_venv(tmp_path_factory.mktemp("hostile-venv"),
                      {folder.name: folder for folder in folders})


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts and ends with no plugin state and no plugin variables set."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    monkeypatch.delenv(plugins.BLOCK_ENV, raising=False)
    plugins.reset()
    yield
    plugins.reset()


class FakeSite:
    """A folder of installed distributions that ``importlib.metadata`` sees alone."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(
        self,
        distribution: str,
        version: str,
        entry_points: Mapping[str, str],
        modules: Mapping[str, str],
    ) -> None:
        """Install ``distribution``: its entry points (name -> module) and module sources."""
        info = self.root / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        lines = ["[unfreeze_core]", *(f"{k} = {v}" for k, v in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in modules.items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()

    def add_policy_plugin(self, distribution: str, version: str, *names: str) -> str:
        """Install a plugin registering ``FixedEpoch`` under each of ``names`` (as a
        subclass declaring that ``type_name``, as a class registered by name must).

        Its module and entry point are named after the distribution; returns that name.
        """
        module = distribution.replace("-", "_")
        body = "".join(f"    register({n!r}, named({n!r}))\n" for n in names)
        source = (
            "from unfreeze_core import FixedEpoch, hookimpl\n\n"
            "def named(name):\n"
            "    return type('FixedEpoch_' + name, (FixedEpoch,), {'type_name': name})\n\n"
            "@hookimpl\n"
            f"def register_policies(register):\n{body}"
        )
        self.add(distribution, version, {module: module}, {module: source})
        return module


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSite]:
    root = tmp_path / "site"
    root.mkdir()
    real = importlib.metadata.distributions

    def distributions(**kwargs: object) -> object:
        return real(path=[str(root)])

    monkeypatch.setattr(importlib.metadata, "distributions", distributions)
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield FakeSite(root)
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(root)):
            del sys.modules[name]

