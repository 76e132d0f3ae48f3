"""The package's layering, checked on its import graph (docs/architecture.md).

Every module of ``unfreeze_core`` has a layer; a module imports only from its own layer
or the layers above it (smaller numbers), so the engine never reaches up into the
config format, the plugin host or Keras. The graph has no cycle, and modules import
each other at the top of the file: a function-level import of a package module is
allowed only to defer a heavy optional dependency (the Keras adapter, plotting), from
the few places listed in ``LAZY``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "unfreeze_core"

#: Module (or package prefix ending in ".") -> layer. Smaller layers are imported by
#: larger ones, never the other way round. The longest matching prefix wins.
LAYERS: dict[str, int] = {
    # leaves
    "unfreeze_core.errors": 0,
    "unfreeze_core.events": 0,
    "unfreeze_core.kinds": 0,
    # the one validation stack
    "unfreeze_core.checks": 1,
    "unfreeze_core.fields": 1,
    "unfreeze_core.unstructure": 1,
    "unfreeze_core.monitoring": 1,
    # pure components
    "unfreeze_core.policies": 2,
    "unfreeze_core.policies.": 2,
    "unfreeze_core.lr_rules": 2,
    "unfreeze_core.lr_rules.": 2,
    "unfreeze_core.groupings": 2,
    "unfreeze_core.groupings.": 2,
    "unfreeze_core.policy_tree": 2,
    # the schedule: never the config format, the registry or the plugins
    "unfreeze_core.schedule": 3,
    "unfreeze_core.schedule_": 3,
    "unfreeze_core.dry_run": 3,
    "unfreeze_core.timeline": 3,
    "unfreeze_core.replay": 3,
    "unfreeze_core.recommended": 3,
    # names and the config format, against an explicit registry
    "unfreeze_core.registry": 4,
    "unfreeze_core.config": 5,
    # the plugin host: the only place that loads entry points
    "unfreeze_core.hookspecs": 6,
    "unfreeze_core.default_plugins": 6,
    "unfreeze_core.default_plugins.": 6,
    "unfreeze_core.plugins": 6,
    "unfreeze_core.plugins.": 6,
    # the facade that defaults to the installed plugins, and the test helpers
    "unfreeze_core.loading": 7,
    "unfreeze_core.testing": 7,
    "unfreeze_core": 8,  # the package's __init__: re-exports
    # adapters and presentation
    "unfreeze_core.keras": 9,
    "unfreeze_core.keras.": 9,
    "unfreeze_core.keras.cache_graph": 9,  # frozen-prefix caching (issue 15)
    "unfreeze_core.keras.cache_store": 9,
    "unfreeze_core.keras.cache_fit": 9,
    "unfreeze_core.plotting": 9,
    "unfreeze_core.demo": 9,
    "unfreeze_core.demo.": 9,
    "unfreeze_core.cli": 10,
    "unfreeze_core.cli.": 10,
}

#: The engine: layers below this import no deep-learning or plotting library at all.
ENGINE_TOP = 8
HEAVY = ("keras", "tensorflow", "jax", "torch", "matplotlib")

#: (importer, imported prefix) pairs allowed as function-level imports: deferring the
#: Keras adapter, the demo's training code or plotting keeps `unfreeze --help` and
#: `import unfreeze_core` fast.
LAZY: tuple[tuple[str, str], ...] = (
    ("unfreeze_core", "unfreeze_core.keras"),
    ("unfreeze_core.cli.", "unfreeze_core.keras"),
    ("unfreeze_core.cli.", "unfreeze_core.demo"),
    ("unfreeze_core.cli.", "unfreeze_core.plotting"),
    ("unfreeze_core.demo.", "unfreeze_core.keras"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS.items():
        matches = module.startswith(prefix) if prefix.endswith((".", "_")) else module == prefix
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), layer)
    return None if best is None else best[1]


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom, known: set[str]) -> list[str]:
    """The package modules an ``from ... import ...`` statement loads."""
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *(node.module.split(".") if node.module else [])])
    else:
        target = node.module or ""
    if not target.startswith("unfreeze_core"):
        return []
    out = []
    for alias in node.names:  # `from . import backend` names a module
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in known else target)
    return sorted(set(out))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(
    path: Path, known: set[str]
) -> list[tuple[str, int, bool]]:
    """``(imported, line, at function level)`` for each import in one module, package
    modules and heavy libraries alike (``TYPE_CHECKING`` blocks included)."""
    importer = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level or (child.module or "").startswith("unfreeze_core"):
                    found.extend(
                        (m, child.lineno, in_function)
                        for m in _resolve(importer, is_package, child, known)
                    )
                else:
                    found.append((child.module or "", child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def package_graph() -> dict[str, list[tuple[str, int, bool]]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, known) for p in paths}


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of the directed graph ``edges``, as a closed path, or ``None``."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if colour.get(nxt) is None:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(edges):
        if colour.get(node) is None:
            found = dfs(node)
            if found:
                return found
    return None


def _lazy_allowed(importer: str, imported: str) -> bool:
    return any(
        (importer == who or (who.endswith(".") and importer.startswith(who)))
        and (imported == what or imported.startswith(what + "."))
        for who, what in LAZY
    )


GRAPH = package_graph()


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in GRAPH if layer_of(m) is None)
    assert not missing, f"modules without a layer (add them to LAYERS): {missing}"


def test_modules_import_only_from_their_layer_or_above() -> None:
    problems = []
    for importer, imports in GRAPH.items():
        mine = layer_of(importer)
        for imported, line, _ in imports:
            theirs = layer_of(imported) if imported.startswith("unfreeze_core") else None
            if mine is None or theirs is None or theirs <= mine:
                continue
            if _lazy_allowed(importer, imported):
                continue
            problems.append(f"{importer}:{line} (layer {mine}) imports {imported} (layer {theirs})")
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


def test_the_engine_imports_no_deep_learning_or_plotting_library() -> None:
    problems = [
        f"{importer}:{line} imports {imported}"
        for importer, imports in GRAPH.items()
        if (layer_of(importer) or 0) < ENGINE_TOP
        for imported, line, _ in imports
        if imported.split(".")[0] in HEAVY
    ]
    assert not problems, "\n".join(problems)


def test_no_function_level_import_of_package_modules() -> None:
    problems = [
        f"{importer}:{line} imports {imported} inside a function"
        for importer, imports in GRAPH.items()
        for imported, line, lazy in imports
        if lazy and imported.startswith("unfreeze_core") and not _lazy_allowed(importer, imported)
    ]
    assert not problems, "\n".join(problems)


def test_the_import_graph_has_no_cycle() -> None:
    edges = {
        importer: {m for m, _, _ in imports if m in GRAPH and m != importer}
        for importer, imports in GRAPH.items()
    }
    # a package's __init__ re-exports its modules; a module importing its own package
    # would close a loop through it, which is a real cycle too
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges) or [])}"


# --- the checks themselves can fail ------------------------------------------------------


def test_find_cycle_sees_a_cycle_and_only_a_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("unfreeze_core.errors", 0),
        ("unfreeze_core.policies.plateau", 2),
        ("unfreeze_core.schedule_state", 3),
        ("unfreeze_core.keras.internals", 9),
        ("unfreeze_core", 8),
        ("unfreeze_core.nonexistent", None),
    ],
)
def test_layer_of(module: str, layer: int | None) -> None:
    assert layer_of(module) == layer


def test_the_checker_reads_relative_and_function_level_imports(tmp_path: Path) -> None:
    source = tmp_path / "unfreeze_core" / "policies" / "fake.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from ..config import structure\n"
        "from . import base\n"
        "def f():\n"
        "    import keras\n"
        "    from ..plugins import get_registry\n"
    )
    known = {"unfreeze_core.config", "unfreeze_core.policies.base", "unfreeze_core.plugins"}
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "unfreeze_core"
    try:
        found = imports_of(source, known)
    finally:
        PACKAGE = saved
    assert found == [
        ("unfreeze_core.config", 1, False),
        ("unfreeze_core.policies.base", 2, False),
        ("keras", 4, True),
        ("unfreeze_core.plugins", 5, True),
    ]
