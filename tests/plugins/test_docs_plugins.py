"""docs/plugins.md and the hooks keep each other honest (the habit of datasette's
``test_docs.py``): every hook is documented under a heading with its exact signature,
every argument is described, every hook has a test of its own, and the page's examples
run and print what the page says."""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import re
import sys
import types
from pathlib import Path

import pytest

from unfreeze_core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "plugins.md"
HOOK_TESTS = Path(__file__).with_name("test_hooks.py")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^### `(\w+)\((.*)\)`$", re.MULTILINE)


def hook_specs() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(func)
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, f"{hookspecs.PROJECT}_spec")
    }


def signature(sig: inspect.Signature) -> str:
    return ", ".join(sig.parameters)


def section(text: str, heading: str) -> str:
    start = text.index(heading) + len(heading)
    end = re.compile(r"^##", re.MULTILINE).search(text, start)
    return text[start : end.start() if end else len(text)]


def test_the_hooks_are_the_ones_this_page_and_its_tests_expect() -> None:
    """Guards the two tests below against finding no hook at all."""
    assert set(hook_specs()) == {
        "register_policies", "register_lr_rules", "register_groupings", "on_stage_change"
    }


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_every_hook_is_documented_with_its_exact_signature(hook: str) -> None:
    text = PAGE.read_text()
    sig = hook_specs()[hook]
    heading = f"### `{hook}({signature(sig)})`"
    documented = {name: args for name, args in HEADING.findall(text)}
    assert hook in documented, f"docs/plugins.md has no heading for hook {hook}"
    assert heading in text, (
        f"docs/plugins.md documents {hook}({documented[hook]}), "
        f"the hook is {hook}({signature(sig)})"
    )
    body = section(text, heading)
    for arg in sig.parameters:
        assert f"`{arg}`" in body, f"argument {arg} of {hook} is not described"
    assert "```python\n# " in body, f"{hook} has no example plugin module"


def test_no_heading_documents_a_hook_that_does_not_exist() -> None:
    assert {name for name, _ in HEADING.findall(PAGE.read_text())} == set(hook_specs())


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_every_hook_has_a_test_of_its_own(hook: str) -> None:
    tree = ast.parse(HOOK_TESTS.read_text())
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert f"test_hook_{hook}" in names, f"{HOOK_TESTS.name} has no test_hook_{hook}"


def test_the_examples_run_and_print_what_the_page_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks that start with ``# name.py`` become importable modules; the other python
    blocks run top to bottom in one namespace, and functions they define named
    ``test_*`` are called; a plain block after "prints" must be what was printed."""
    monkeypatch.delenv("UNFREEZE_STAGE_LOG", raising=False)
    text = PAGE.read_text()
    namespace: dict[str, object] = {"__name__": "__docs_plugins__"}
    printed = ""
    last = 0
    modules, snippets, checked = 0, 0, 0
    for match in FENCE.finditer(text):
        lang, code = match.group(1), match.group(2)
        before = text[last : match.start()]
        last = match.end()
        if lang == "python":
            first = code.splitlines()[0]
            module_name = re.fullmatch(r"# (\w+)\.py", first)
            if module_name:
                module = types.ModuleType(module_name.group(1))
                monkeypatch.setitem(sys.modules, module.__name__, module)
                exec(compile(code, f"plugins.md:{module.__name__}.py", "exec"), module.__dict__)
                modules += 1
                continue
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"plugins.md:block{snippets}", "exec"), namespace)
            printed = buffer.getvalue()
            snippets += 1
        elif lang == "" and before.strip().endswith("prints"):
            assert printed == code, f"the block before 'prints' printed:\n{printed}"
            checked += 1
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    for test in tests:
        test()
    assert (modules, checked, len(tests)) == (4, 4, 2)
    assert snippets >= 4
