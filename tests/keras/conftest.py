"""Settings for the driver's tests: quiet TensorFlow, seeded Keras, small Hypothesis runs.

Without the ``keras`` extra installed nothing here is collected (every module imports
Keras), and the run's summary says so instead of failing at collection.

``UNFREEZE_KERAS_EXAMPLES`` sets how many models the Keras property test generates
(default 6 in CI; e.g. ``UNFREEZE_KERAS_EXAMPLES=60`` for a thorough run).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from typing import Any

import pytest

try:
    import keras
except ModuleNotFoundError:
    keras = None
    collect_ignore_glob = ["*.py"]

    def pytest_terminal_summary(terminalreporter: Any) -> None:
        terminalreporter.write_line(
            "tests/keras skipped: Keras is not installed (pip install 'unfreeze-core[keras]')"
        )


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same random state and a fresh Keras name scope."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
