"""The built site as a reader sees it at 1280 px, in headless Chromium.

Every page of the site, served on localhost: no code block scrolls sideways (its
content is no wider than its box: ``docs/stylesheets/extra.css`` wraps long lines), the
page itself does not scroll sideways, the search box is there, and the search index
loads when the site is served over HTTP (Material's result area leaves "Initializing
search"). How the pages are measured: ``tests/docs/browser.py``.

Skipped where no Chromium is installed; ``scripts/test.sh`` installs Debian's
``chromium`` package where it runs as root with apt-get.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .browser import check_site, find_chromium

CHROMIUM = find_chromium()

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found (apt-get install chromium, or set UNFREEZE_CHROMIUM)",
)


@pytest.fixture(scope="module")
def report(site: Path) -> dict[str, dict]:
    assert CHROMIUM is not None
    return check_site(site, CHROMIUM, timeout=90)


def test_every_page_was_measured(report: dict[str, dict], site: Path) -> None:
    errors = {page: m["error"] for page, m in report.items() if "error" in m}
    assert not errors
    assert "index.html" in report and "install.html" in report
    assert sum(m["code_blocks"] for m in report.values()) > 100


def test_no_code_block_scrolls_sideways_at_1280_px(report: dict[str, dict]) -> None:
    overflowing = {
        page: [
            f"{o['first_line']!r}: {o['scroll']} px in {o['client']} px" for o in m["overflowing"]
        ]
        for page, m in report.items()
        if m["overflowing"]
    }
    assert not overflowing, f"code blocks wider than their box: {overflowing}"


def test_no_page_scrolls_sideways_at_1280_px(report: dict[str, dict]) -> None:
    wide = {
        page: m["page_scroll_width"]
        for page, m in report.items()
        if m["page_scroll_width"] > m["page_client_width"]
    }
    assert not wide, f"pages wider than the 1280 px window: {wide}"


def test_search_is_there_and_initializes_when_served(report: dict[str, dict]) -> None:
    assert all(m["search_input"] for m in report.values())
    assert report["index.html"]["search_meta"] == "Type to start searching"


def test_the_check_notices_an_overflowing_block(tmp_path: Path) -> None:
    """A control: a page without the wrapping style, with a line too long for 1280 px."""
    long_line = "x = " + "1 + " * 400 + "1"
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><body><div class='md-typeset' style='width:600px'>"
        f"<pre><code style='display:block;overflow:auto'>{long_line}</code></pre>"
        "<pre><code style='display:block'>short</code></pre></div></body></html>"
    )
    assert CHROMIUM is not None
    found = check_site(tmp_path, CHROMIUM, timeout=60)["index.html"]
    assert found["code_blocks"] == 2
    assert [o["first_line"][:8] for o in found["overflowing"]] == ["x = 1 + "]
    assert found["search_input"] is False
