"""The reference of the declarative format, generated from the registered components.

``docs/schedules.md`` embeds :func:`markdown_reference` between two markers; a test
checks that it is current, so the documented keys cannot drift from the code. Rewrite
it with ``python -m unfreeze_core.cli.reference docs/schedules.md``.

A maintenance tool, not an ``unfreeze`` subcommand: it reads the installed plugins'
registry (a plugin author can pass a registry and ``provider=`` to document their own
types). The section titles and the wording of nested components come from
:data:`unfreeze_core.kinds.KINDS`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import attrs

from ..fields import describe_check, describe_type, resolved_fields
from ..kinds import KINDS, kind_of_field
from ..plugins import get_registry
from ..registry import Entry, Registry
from ..schedule import Schedule

__all__ = ["BEGIN", "END", "fields_table", "markdown_reference", "nested_type", "update_file"]

BEGIN = (
    "<!-- BEGIN GENERATED REFERENCE (python -m unfreeze_core.cli.reference docs/schedules.md) -->"
)
END = "<!-- END GENERATED REFERENCE -->"


def nested_type(field_kind: str) -> str:
    """How the reference describes a field declared ``arg(kind=field_kind)``.

    Example:
        >>> nested_type("rule"), nested_type("policies")
        ('an LR rule table', 'a list of policy tables')
    """
    kind, is_list = kind_of_field(field_kind)
    article = KINDS[kind].article
    if not is_list:
        return article
    noun = article.split(" ", 1)[1]  # "an LR rule table" -> "LR rule table"
    return f"a list of {noun}s"


def _default(field: attrs.Attribute) -> str:
    if field.default is attrs.NOTHING:
        return "required"
    if field.default is None:
        return "—"
    value = field.default
    if attrs.has(type(value)):
        return f"`{type(value).__name__}()`"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value!r}`"


def _type(field: attrs.Attribute) -> str:
    nested = field.metadata.get("kind")
    if nested:
        return nested_type(nested)
    return describe_type(field.type).replace(" or null", "")


def fields_table(cls: type[Any]) -> list[str]:
    """The Markdown rows of a table of ``cls``'s keys: type, default, rule, meaning."""
    rows = ["| key | type | default | rule | meaning |", "|---|---|---|---|---|"]
    for field in resolved_fields(cls):
        described = (describe_check(c) for c in field.metadata.get("checks", ()))
        rules = "; ".join(r for r in described if r and not r.startswith("one of"))
        doc = field.metadata.get("doc", "")
        rows.append(f"| `{field.name}` | {_type(field)} | {_default(field)} | {rules} | {doc} |")
    return rows


def _entry_section(entry: Entry) -> list[str]:
    factory = entry.factory
    lines = [f"#### `{entry.name}`", ""]
    summary = (factory.__doc__ or "").strip().splitlines()
    python_name = getattr(factory, "__name__", repr(factory))
    lines.append(f"Python: `{python_name}`. {summary[0] if summary else ''}".rstrip())
    lines.append("")
    if isinstance(factory, type) and attrs.has(factory):
        if any(f.metadata.get("kind") for f in attrs.fields(factory)) and entry.shorthand:
            (child,) = [f.name for f in attrs.fields(factory) if f.metadata.get("kind")]
            lines.append(
                f"Short form: `{{{entry.name} = [...]}}` for `{{type = "
                f'"{entry.name}", {child} = [...]}}`.'
            )
            lines.append("")
        if attrs.fields(factory):
            lines.extend(fields_table(factory))
        else:
            lines.append("No keys besides `type`.")
        lines.append("")
    return lines


def markdown_reference(
    registry: Registry | None = None, *, provider: str | None = "unfreeze-core"
) -> str:
    """Markdown tables of the schedule's keys and every registered type's keys.

    Args:
        registry: the components to document (default: the installed plugins').
        provider: document only the types this distribution registers (``None``: all).
    """
    registry = registry if registry is not None else get_registry()
    lines = ["### The schedule (top level)", "", "Plus `version` (required in files: `1`).", ""]
    lines.extend(fields_table(Schedule))
    lines.append("")
    for kind in KINDS:
        lines.extend([f"### {KINDS[kind].title}", ""])
        for name in registry.names(kind):
            entry = registry.get(kind, name)
            if provider is None or entry.provider == provider:
                lines.extend(_entry_section(entry))
    return "\n".join(lines).rstrip() + "\n"


def update_file(path: str | Path) -> bool:
    """Rewrite the generated section of ``path``; whether it changed."""
    path = Path(path)
    text = path.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n\n" + markdown_reference() + "\n" + text[end:]
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":  # pragma: no cover
    for arg in sys.argv[1:]:
        print(f"{arg}: {'updated' if update_file(arg) else 'up to date'}")
