"""Helpers for the command-line tests: schedule and history files, and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import BAD_TOML, FIXED_JSON, GOOD_TOML, driver_history, unfreeze_command


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Schedule and history files in a temporary folder."""
    paths = {
        "good": tmp_path / "good.toml",
        "bad": tmp_path / "bad.toml",
        "fixed": tmp_path / "fixed.json",
        "history": tmp_path / "history.json",
    }
    paths["good"].write_text(GOOD_TOML)
    paths["bad"].write_text(BAD_TOML)
    paths["fixed"].write_text(json.dumps(FIXED_JSON))
    paths["history"].write_text(json.dumps(driver_history()))
    return paths


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``unfreeze ARGS`` in a real subprocess (in ``tmp_path``); returns the result."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "160"}
        env.pop("UNFREEZE_DEBUG", None)
        return subprocess.run(
            [*unfreeze_command(), *args], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=timeout,
        )

    return run
