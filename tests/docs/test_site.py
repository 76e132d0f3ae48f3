"""The site builds with ``mkdocs build --strict``, and its API reference is complete.

The build (the ``site`` fixture of ``conftest.py``) runs once per test session, in a
subprocess, into a temporary folder, with every HTTP proxy pointed at a closed port so
that nothing can be fetched. Strict mode turns
every warning into a failure: a broken link or anchor, a page missing from the
nav, a ``:::`` reference to an object that does not exist, a docstring cross-reference
that resolves to nothing, a missing snippet.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def inventory(site: Path) -> dict[str, tuple[str, int, str]]:
    """The site's ``objects.inv``: name -> (role, priority, page)."""
    raw = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = raw.index(b"\n", header_end) + 1
    entries = {}
    for line in zlib.decompress(raw[header_end:]).decode().splitlines():
        match = re.match(r"(\S+)\s+(\S+)\s+(-?\d+)\s+(\S+)\s+", line)
        if match:
            name, role, priority, page = match.groups()
            entries[name] = (role, int(priority), page)
    return entries


def public_objects(module: ModuleType) -> list[tuple[str, Any]]:
    return [(name, getattr(module, name)) for name in module.__all__]


def expected_roles(obj: Any) -> set[str]:
    if isinstance(obj, type):
        return {"py:class", "py:exception"}
    if inspect.isroutine(obj):
        return {"py:function"}
    return {"py:data", "py:attribute"}


def missing_entries(module: ModuleType, entries: dict[str, tuple[str, int, str]]) -> list[str]:
    """Public names of ``module`` without a reference entry of the right kind.

    A name counts as documented under the path users import it by
    (``unfreeze_core.Plateau``) or under its definition's own path: the reference
    renders ``unfreeze_core.ProgressiveUnfreezing`` (loaded lazily) at
    ``unfreeze_core.keras.ProgressiveUnfreezing``, and the function
    ``unfreeze_core.keras.plan``, which a submodule of the same name hides from static
    analysis, at ``unfreeze_core.keras.plan.plan``. mkdocstrings lists every path of a
    rendered object in the inventory (its own with priority 1, aliases with 2).
    """
    missing = []
    for name, obj in public_objects(module):
        paths = [f"{module.__name__}.{name}"]
        defined_in = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if isinstance(defined_in, str) and isinstance(qualname, str):
            paths.append(f"{defined_in}.{qualname}")
        roles = expected_roles(obj)
        found = [entries[p] for p in paths if p in entries and entries[p][0] in roles]
        if not any(page.startswith("reference/") for _, _, page in found):
            missing.append(f"{paths[0]} ({' or '.join(sorted(roles))})")
    return missing


def test_the_site_builds_strictly_and_offline(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "reference" / "keras.html").is_file()
    built = {p.relative_to(site).with_suffix(".md").as_posix() for p in site.rglob("*.html")}
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages <= built, f"pages not built: {sorted(pages - built)}"


def test_every_public_name_has_a_reference_entry(site: Path) -> None:
    import unfreeze_core
    import unfreeze_core.keras

    entries = inventory(site)
    missing = missing_entries(unfreeze_core, entries) + missing_entries(
        unfreeze_core.keras, entries
    )
    assert not missing, (
        "public names without an entry in the API reference (add a `::: name` line to the "
        f"right page under docs/reference/): {missing}"
    )


def test_the_reference_check_notices_a_missing_entry(site: Path) -> None:
    import unfreeze_core

    entries = inventory(site)
    del entries["unfreeze_core.Plateau"]
    entries.pop("unfreeze_core.policies.plateau.Plateau", None)
    missing = missing_entries(unfreeze_core, entries)
    assert missing == ["unfreeze_core.Plateau (py:class or py:exception)"]


def nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [p for item in nav for p in nav_pages(item)]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in nav_pages(value)]
    return []


def test_every_page_is_in_the_nav() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    listed = set(nav_pages(config["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - listed == set(), (
        f"pages missing from the nav in mkdocs.yml (the site would not link them): "
        f"{sorted(pages - listed)}"
    )


def test_the_changelog_page_is_the_changelog(site: Path) -> None:
    assert (DOCS / "changelog.md").read_text().strip() == '--8<-- "CHANGELOG.md"'
    html = (site / "changelog.html").read_text()
    for heading in re.findall(r"^## \[(.+?)\]", (ROOT / "CHANGELOG.md").read_text(), re.M):
        assert heading in html


def test_the_readme_links_to_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))
    assert "docs/index.md" in linked, "README.md should link to the documentation's home page"
    for target in linked:
        assert (ROOT / target).is_file(), f"README.md links to {target}, which does not exist"


def load_extension() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "unfreeze_griffe", DOCS / "_ext" / "unfreeze_griffe.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sphinx_roles_in_docstrings_become_links() -> None:
    ext = load_extension()
    assert ext.markdown_docstring("See :class:`~unfreeze_core.Schedule`.") == (
        "See [`Schedule`][unfreeze_core.Schedule]."
    )
    assert ext.markdown_docstring(":func:`unfreeze_core.load_schedule`") == (
        "[`unfreeze_core.load_schedule`][unfreeze_core.load_schedule]"
    )
    assert ext.markdown_docstring(":mod:`events <unfreeze_core.events>`") == (
        "[events][unfreeze_core.events]"
    )
    assert ext.markdown_docstring("Example:\n    >>> 1\n    1") == "Examples:\n    >>> 1\n    1"


def test_attrs_classes_get_their_signature_and_arguments(site: Path) -> None:
    html = (site / "reference" / "policies.html").read_text()
    text = re.sub(r"<[^>]+>", "", html)
    # The signature is built from attrs.fields, the table from each field's doc=.
    assert re.search(r"Plateau\(\s*monitor:\s*str\s*=\s*&quot;val_loss&quot;", text) or re.search(
        r"Plateau\(\s*monitor:\s*str\s*=\s*\"val_loss\"", text
    )
    assert "Epochs without improvement before advancing." in text
