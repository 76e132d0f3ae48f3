"""docs/refreezing.md is executed: its python blocks run and print what the page says,
its schedules load, and its argument tables match the signatures."""

from __future__ import annotations

import re
import tomllib

import attrs
import pytest

import unfreeze_core
from unfreeze_core import load_schedule

from .docs.snippets import ROOT, blocks, run_page

PAGE = "docs/refreezing.md"


def test_the_page_runs_and_prints_what_it_says() -> None:
    ran, compared = run_page(PAGE)
    assert (ran, compared) == (3, 3)


def test_its_toml_schedule_loads() -> None:
    found = [code for lang, code, _ in blocks((ROOT / PAGE).read_text()) if lang == "toml"]
    assert found
    for code in found:
        load_schedule(tomllib.loads(code))


@pytest.mark.parametrize("name", ["AutoFreeze", "FreezeOut"])
def test_the_argument_tables_match_the_signatures(name: str) -> None:
    text = (ROOT / PAGE).read_text()
    section = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert section
    rows = dict(re.findall(r"^\| `(\w+)` \| (`[^`]*`|required) \|", section.group(1), re.M))
    cls = getattr(unfreeze_core, name)
    expected = {
        f.alias: "required" if f.default is attrs.NOTHING else f"`{f.default!r}`"
        for f in attrs.fields(cls) if f.init
    }
    assert rows == expected
