"""The argument tables of the policy and LR-rule guides match the code.

``docs/policies.md`` and ``docs/lr-rules.md`` describe each built-in in a section
``## Name`` with a table ``| argument | default | meaning |``. Every argument of the
class must be listed, with its default as ``repr`` shows it (``required`` when there is
none), and nothing else: the guides cannot drift from the signatures.
"""

from __future__ import annotations

import re

import attrs
import pytest

import unfreeze_core

from .snippets import DOCS

GUIDES = {
    "policies.md": ["FixedEpoch", "Plateau", "GradNorm", "MinEpochs"],
    "lr-rules.md": ["StageScaled", "Discriminative", "Warmup"],
}

ROW = re.compile(r"^\| `(\w+)` \| (`[^`]*`|required) \|", re.MULTILINE)


def argument_table(text: str, name: str) -> dict[str, str]:
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert match, f"no section '## {name}'"
    return dict(ROW.findall(match.group(1)))


def documented_default(field: attrs.Attribute) -> str:
    return "required" if field.default is attrs.NOTHING else f"`{field.default!r}`"


def signature_table(name: str) -> dict[str, str]:
    cls = getattr(unfreeze_core, name)
    return {f.alias: documented_default(f) for f in attrs.fields(cls) if f.init}


@pytest.mark.parametrize(
    ("page", "name"), [(page, name) for page, names in GUIDES.items() for name in names]
)
def test_the_argument_table_matches_the_signature(page: str, name: str) -> None:
    assert argument_table((DOCS / page).read_text(), name) == signature_table(name)


def test_every_builtin_policy_and_rule_has_a_section() -> None:
    from unfreeze_core.plugins import get_registry

    text = (DOCS / "policies.md").read_text() + (DOCS / "lr-rules.md").read_text()
    for entry in get_registry():
        if entry.provider == "unfreeze-core" and entry.kind in ("policy", "rule"):
            assert f"`{entry.name}`" in text, f"no guide mentions the type '{entry.name}'"


def test_a_wrong_default_or_a_missing_argument_is_noticed() -> None:
    text = (DOCS / "policies.md").read_text()
    assert "| `patience` | `1` |" in text
    wrong = text.replace("| `patience` | `1` |", "| `patience` | `5` |")
    assert argument_table(wrong, "Plateau") != signature_table("Plateau")
    missing = re.sub(r"^\| `cooldown` .*\n", "", text, flags=re.MULTILINE)
    assert argument_table(missing, "Plateau") != signature_table("Plateau")
    assert signature_table("Warmup")["steps"] == "required"
