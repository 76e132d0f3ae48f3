"""A Griffe extension for the API reference: what static analysis cannot see.

mkdocstrings reads the sources statically, and two things of this code base are then
lost:

- The components are ``attrs`` classes whose ``__init__`` attrs writes at import time,
  so a static reader sees no constructor. This extension imports each ``attrs`` class
  and builds its ``__init__`` signature from ``attrs.fields`` (names, defaults, and the
  annotations as written in the source), and, when the docstring has no ``Args:``
  section, writes one from the ``doc=`` each field was declared with
  (:func:`unfreeze_core.fields.arg`).
- The docstrings cross-reference in Sphinx roles (``:class:`~unfreeze_core.Schedule` ``),
  which Markdown shows as they are. They become autorefs links
  (``[`Schedule`][unfreeze_core.Schedule]``), so a reference to a name that is not
  documented fails the strict build.
- Google-style ``Example:`` (singular) is a section for Sphinx' Napoleon but an
  admonition for Griffe, so doctest output such as ``[0.25, 1.0]`` was read as a
  Markdown link. It is read as ``Examples:`` here.

Loaded by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import attrs
import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([^`<]*?)(?:\s*<([^>]+)>)?`")
_HAS_ARGS = re.compile(r"^\s*(Args|Arguments|Parameters|Params):[ \t]*$", re.MULTILINE)


def _in_scope(obj: griffe.Object | None, name: str) -> str:
    """``name`` as Sphinx resolves a relative target: in ``obj``'s scope, then outwards."""
    head, _, rest = name.partition(".")
    while obj is not None:
        imported = obj.imports.get(head)  # what the name is at run time, when imported
        if imported is not None:
            return f"{imported}.{rest}" if rest else imported
        member = obj.members.get(head)
        if member is not None:
            path = member.target_path if isinstance(member, griffe.Alias) else member.path
            return f"{path}.{rest}" if rest else path
        obj = obj.parent
    return name


def markdown_docstring(text: str, obj: griffe.Object | None = None) -> str:
    """A docstring with Sphinx roles as autorefs links and ``Example:`` as ``Examples:``.

    Relative targets (``:func:`load_plugins```) are resolved in ``obj``'s scope.

    Examples:
        >>> markdown_docstring("See :class:`~unfreeze_core.Schedule`.")
        'See [`Schedule`][unfreeze_core.Schedule].'
        >>> markdown_docstring("the :mod:`event <unfreeze_core.events>` it gets")
        'the [event][unfreeze_core.events] it gets'
    """

    def link(match: re.Match[str]) -> str:
        tilde, text, target = match.group(1), match.group(2).strip(), match.group(3)
        if target is not None:  # :class:`text <path>`
            return f"[{text}][{_in_scope(obj, target.strip())}]"
        shown = text.rsplit(".", 1)[-1] if tilde else text
        return f"[`{shown}`][{_in_scope(obj, text)}]"

    return _EXAMPLE.sub(r"\1Examples:", _ROLE.sub(link, text))


def _runtime_class(cls: griffe.Class) -> Any:
    module = importlib.import_module(cls.module.path)
    obj: Any = module
    for part in cls.path[len(cls.module.path) + 1 :].split("."):
        obj = getattr(obj, part)
    return obj


def _default(field: attrs.Attribute) -> str | None:
    if field.default is attrs.NOTHING:
        return None
    factory = getattr(field.default, "factory", None)
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        return f"{getattr(factory, '__name__', 'factory')}()"
    return repr(field.default)


def _annotation(cls: griffe.Class, name: str) -> Any:
    member = cls.all_members.get(name)  # inherited too: AnyOf's `policies` is its base's
    if isinstance(member, griffe.Alias):
        member = member.final_target
    if isinstance(member, griffe.Attribute):
        return member.annotation
    return None


def _args_section(fields: tuple[attrs.Attribute, ...]) -> str:
    lines = []
    for field in fields:
        doc = str(field.metadata.get("doc", "")).strip()
        if not doc:
            return ""  # only when every argument is described
        lines.append(f"    {field.alias}: {doc}")
    return "Args:\n" + "\n".join(lines) if lines else ""


class UnfreezeDocs(griffe.Extension):
    """Constructor signatures of ``attrs`` classes, and ``Example:`` sections."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value, obj)

    def on_class(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if "__init__" in cls.members or not cls.path.startswith("unfreeze_core"):
            return
        if not any(d.callable_path.split(".")[0] in ("attrs", "attr") for d in cls.decorators):
            return  # decided statically, so that no module is imported for nothing
        try:
            runtime = _runtime_class(cls)
        except (ImportError, AttributeError):
            return
        if not (isinstance(runtime, type) and attrs.has(runtime)):
            return
        fields = tuple(f for f in attrs.fields(runtime) if f.init)
        parameters = [
            griffe.Parameter(
                name="self", kind=griffe.ParameterKind.positional_or_keyword, annotation=None
            )
        ]
        for field in fields:
            parameters.append(
                griffe.Parameter(
                    name=field.alias,
                    kind=(
                        griffe.ParameterKind.keyword_only
                        if field.kw_only
                        else griffe.ParameterKind.positional_or_keyword
                    ),
                    annotation=_annotation(cls, field.name),
                    default=_default(field),
                )
            )
        init = griffe.Function(
            "__init__",
            lineno=0,
            endlineno=0,
            parent=cls,
            parameters=griffe.Parameters(*parameters),
            returns="None",
        )
        cls.set_member("__init__", init)
        docstring = cls.docstring
        if docstring is not None and not _HAS_ARGS.search(docstring.value):
            section = _args_section(fields)
            if section:
                docstring.value = docstring.value.rstrip() + "\n\n" + section
