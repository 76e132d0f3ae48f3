"""Data for the command-line tests: schedules, a driver-shaped history, the command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

RunCli = Callable[..., subprocess.CompletedProcess[str]]
"""The ``run_cli`` fixture: ``run_cli("plan", ...)`` runs ``unfreeze plan ...``."""

GOOD_TOML = """\
version = 1

[policy]
type = "plateau"
monitor = "val_loss"
patience = 1

[[rules]]
type = "discriminative"
factor = 2.0
"""

BAD_TOML = """\
version = 1
bogus = 3

[policy]
any_of = [{ type = "plateau", patience = -1 }, { type = "platoo" }]

[[rules]]
type = "warmup"
"""

FIXED_JSON = {"version": 1, "policy": {"type": "fixed_epoch", "every": 2},
              "rules": [{"type": "discriminative", "factor": 2.0}]}


def driver_history(n_epochs: int = 6) -> dict[str, list[float]]:
    """A history shaped like the driver's logs: 3 groups, one more every 2 epochs."""
    stages = [min(1 + e // 2, 3) for e in range(n_epochs)]
    names = ["backbone/conv", "backbone/dense", "head"]
    out: dict[str, list[float]] = {
        "loss": [1.0 / (e + 1) for e in range(n_epochs)],
        "val_loss": [1.2 / (e + 1) + 0.05 for e in range(n_epochs)],
        "val_accuracy": [0.5 + 0.05 * e for e in range(n_epochs)],
        "unfreeze_stage": [float(s) for s in stages],
        "unfreeze_stage_index": [float(s - 1) for s in stages],
        "unfreeze_trainable_params": [float([10, 110, 1110][s - 1]) for s in stages],
    }
    for g, name in enumerate(names):
        out[f"unfreeze_lr/{name}"] = [
            0.01 * 0.5 ** (2 - g) if g >= 3 - s else 0.0 for s in stages
        ]
    return out


def unfreeze_command() -> list[str]:
    """The installed ``unfreeze`` script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("unfreeze")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "unfreeze_core.cli"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
