"""Running the code blocks of a documentation page, as the reader would.

The rules are those of ``tests/test_docs.py``: every ``python`` block of a page runs, top
to bottom, in one namespace per page; a plain block whose preceding paragraph ends in
"prints" must equal what the python block before it printed; a block marked
``<!-- fragment: ... -->`` right above it only shows a call and is not run.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, code, the prose just before the block) for every fenced block."""
    out, last = [], 0
    for match in FENCE.finditer(text):
        out.append((match.group(1), match.group(2), text[last : match.start()]))
        last = match.end()
    return out


def is_fragment(before: str) -> bool:
    """Whether the prose right above a block marks it as a fragment, not a program."""
    return before.rstrip().endswith("-->") and "<!-- fragment" in before


def run_page(page: str | Path) -> tuple[int, int]:
    """Run ``page``'s python blocks and check its "prints" blocks.

    Returns:
        How many python blocks ran and how many "prints" blocks were compared.

    Raises:
        AssertionError: a "prints" block differs from what was printed (the message
            shows both), or a "prints" block comes before any python block.
    """
    path = Path(page) if Path(page).is_absolute() else ROOT / page
    namespace: dict[str, object] = {"__name__": "__docs__"}
    printed: str | None = None
    ran = compared = 0
    for lang, code, before in blocks(path.read_text()):
        if lang == "python" and is_fragment(before):
            continue
        if lang == "python":
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"{path.name}:block{ran}", "exec"), namespace)
            printed = buffer.getvalue()
            ran += 1
        elif lang == "" and before.strip().endswith("prints"):
            assert printed is not None, f"{path.name}: a 'prints' block before any python block"
            assert printed == code, (
                f"{path.name}: the page says the block before 'prints' prints:\n{code}\n"
                f"but it printed:\n{printed}"
            )
            compared += 1
    return ran, compared
