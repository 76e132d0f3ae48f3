"""The docs are executed: every ``python`` block runs, every ``prints`` block is compared
with what the block before it printed, and every TOML/JSON schedule loads.

A block that only shows a call (not a complete program) says so right above it with
``<!-- fragment: ... -->``; it is then not executed."""

from __future__ import annotations

import json
import tomllib

import pytest

from unfreeze_core import load_schedule
from unfreeze_core.cli.reference import BEGIN, END, markdown_reference

from .docs.snippets import ROOT, blocks, run_page

# Pages whose python blocks run here, top to bottom in one namespace per page.
# Pages that train Keras models run their blocks in their own tests.
EXECUTED_PAGES = [
    "README.md",
    "docs/concepts.md",
    "docs/schedules.md",
    "docs/policies.md",
    "docs/lr-rules.md",
    "docs/migration.md",
    "docs/choosing-a-schedule.md",
]


@pytest.mark.parametrize("page", EXECUTED_PAGES)
def test_python_blocks_run_and_print_what_the_page_says(page: str) -> None:
    ran, _ = run_page(page)
    assert ran > 0


def schedule_blocks() -> list[tuple[str, int, str, str]]:
    found = []
    for page in [
        *EXECUTED_PAGES,
        *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
    ]:
        for i, (lang, code, _) in enumerate(blocks((ROOT / page).read_text())):
            if lang in ("toml", "json") and "version" in code and "policy" in code:
                found.append((page, i, lang, code))
    return sorted(set(found))


@pytest.mark.parametrize(("page", "index", "lang", "code"), schedule_blocks())
def test_every_schedule_in_the_docs_loads(page: str, index: int, lang: str, code: str) -> None:
    data = tomllib.loads(code) if lang == "toml" else json.loads(code)
    load_schedule(data)


def test_the_generated_reference_is_current() -> None:
    text = (ROOT / "docs/schedules.md").read_text()
    section = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert section.strip() == markdown_reference().strip(), (
        "docs/schedules.md is out of date: run "
        "python -m unfreeze_core.cli.reference docs/schedules.md"
    )


def test_every_builtin_type_and_key_is_in_the_reference() -> None:
    import attrs

    from unfreeze_core.plugins import get_registry
    from unfreeze_core.schedule import Schedule

    text = (ROOT / "docs/schedules.md").read_text()
    for entry in get_registry():
        if entry.provider != "unfreeze-core":
            continue
        assert f"#### `{entry.name}`" in text
        if not isinstance(entry.factory, type):  # a model family: no keys
            continue
        for field in attrs.fields(entry.factory):
            assert f"| `{field.name}` |" in text
    for field in attrs.fields(Schedule):
        assert f"| `{field.name}` |" in text
