"""The backend tests run the driver in subprocesses; without the ``keras`` extra nothing
here is collected, and the run's summary says so."""

from __future__ import annotations

import importlib.util
from typing import Any

if importlib.util.find_spec("keras") is None:
    collect_ignore_glob = ["*.py"]

    def pytest_terminal_summary(terminalreporter: Any) -> None:
        terminalreporter.write_line(
            "tests/backends skipped: Keras is not installed (pip install 'unfreeze-core[keras]')"
        )
