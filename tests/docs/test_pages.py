"""The pages with Keras code run: every python block executes and prints what the page says.

Pages whose blocks need no Keras are run by ``tests/test_docs.py`` (``EXECUTED_PAGES``);
these train small models on synthetic data, a few seconds each.
"""

from __future__ import annotations

import importlib.util
import json
import tomllib
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

import pytest

from unfreeze_core import load_schedule
from unfreeze_core.testing import register_plugin

from .snippets import DOCS, ROOT, blocks, is_fragment, run_page

KERAS_PAGES = [
    "docs/index.md",
    "docs/recipes/classic.md",
    "docs/recipes/frozen-backbone.md",
    "docs/recipes/ulmfit.md",
    "docs/recipes/bert-layer-decay.md",
    "docs/recipes/plateau-early-stop.md",
]

# The example plugins of this repository, by the names their docs use.
EXAMPLE_PLUGINS = {
    "slanted_triangular": ("unfreeze-slanted-triangular", "unfreeze_slanted_triangular"),
    "chain_thaw": ("unfreeze-chain-thaw", "unfreeze_chain_thaw"),
}


@pytest.mark.keras
@pytest.mark.parametrize("page", KERAS_PAGES)
def test_the_page_runs_and_prints_what_it_says(page: str) -> None:
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    ran, _ = run_page(page)
    assert ran > 0


def test_a_wrong_prints_block_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nprint('a')\n```\n\nprints\n\n```\nb\n```\n")
    with pytest.raises(AssertionError, match="it printed:\na"):
        run_page(page)


def test_a_fragment_is_shown_but_not_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- fragment: the call only -->\n```python\nmodel.fit(...)\n```\n\n"
        "```python\nprint('ran')\n```\n\nprints\n\n```\nran\n```\n"
    )
    assert run_page(page) == (1, 1)


def executed_elsewhere() -> set[str]:
    """Pages that some test of the suite names (tests/test_docs.py, a helper's own test)."""
    sources = [p.read_text() for p in (ROOT / "tests").rglob("*.py")]
    sources += [p.read_text() for p in ROOT.glob("plugins/*/tests/*.py")]
    pages = {p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md")}
    return {page for page in pages if any(page in source for source in sources)}


def test_every_page_with_python_code_is_executed_by_some_test() -> None:
    named = executed_elsewhere()
    unexecuted = []
    for path in sorted(DOCS.rglob("*.md")):
        page = path.relative_to(ROOT).as_posix()
        has_python = any(
            lang == "python" and not is_fragment(before)
            for lang, _, before in blocks(path.read_text())
        )
        if has_python and page not in named:
            unexecuted.append(page)
    assert not unexecuted, f"pages whose python blocks no test runs: {unexecuted}"


def schedule_blocks() -> list[tuple[str, int, str, str]]:
    """Every complete TOML/JSON schedule in docs/ (subfolders included)."""
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        for i, (lang, code, _) in enumerate(blocks(path.read_text())):
            if lang in ("toml", "json") and "version" in code and "policy" in code:
                found.append((path.relative_to(ROOT).as_posix(), i, lang, code))
    return found


def plugin_module(distribution: str, module: str) -> ModuleType:
    """The example plugin's module, loaded from its source without installing it (and
    without touching ``sys.path`` or ``sys.modules``, so other tests see no difference)."""
    init = ROOT / "plugins" / distribution / "src" / module / "__init__.py"
    spec = importlib.util.spec_from_file_location(module, init)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.mark.parametrize(("page", "index", "lang", "code"), schedule_blocks())
def test_every_schedule_in_the_docs_loads(page: str, index: int, lang: str, code: str) -> None:
    """Schedules that name an example plugin load with that plugin registered."""
    data = tomllib.loads(code) if lang == "toml" else json.loads(code)
    with ExitStack() as stack:
        for name, (distribution, module) in EXAMPLE_PLUGINS.items():
            if f'"{name}"' in code:
                stack.enter_context(register_plugin(plugin_module(distribution, module)))
        schedule = load_schedule(data)
        assert schedule.to_config() == load_schedule(schedule.to_config()).to_config()
