"""docs/driver.md is executed: its python blocks run in order in one namespace, and every
block introduced by "prints" is what the block before it printed."""

from __future__ import annotations

import pytest

from ..docs.snippets import run_page

pytestmark = pytest.mark.keras


def test_driver_guide_runs_and_prints_what_it_says() -> None:
    ran, compared = run_page("docs/driver.md")
    assert ran >= 6 and compared >= 6
