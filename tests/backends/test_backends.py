"""The driver on every Keras 3 backend: the same invariants on TensorFlow, JAX and PyTorch.

Each backend runs in its own process (``KERAS_BACKEND`` must be set before Keras is
imported) through ``backend_run.py``, which reports measurements; the assertions are
here, the same for every backend. A backend whose package is not installed is skipped,
unless ``UNFREEZE_REQUIRE_BACKENDS`` (comma-separated, e.g. ``tensorflow,jax,torch``, as
CI sets it) names it: then the missing package is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("backend_run.py")
ROOT = SCRIPT.parents[2]
PACKAGE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: Seconds a test waits for a subprocess: a safety net against a hung process, far
#: beyond what a busy machine needs, so that it never decides a test's outcome.
SAFETY_TIMEOUT = 900.0


def required() -> set[str]:
    """Backends that must run here (``UNFREEZE_REQUIRE_BACKENDS``)."""
    return {b.strip() for b in os.environ.get("UNFREEZE_REQUIRE_BACKENDS", "").split(",") if b}


def run_backend(backend: str, out: Path, timeout: float = SAFETY_TIMEOUT) -> dict[str, Any]:
    """Run ``backend_run.py`` under ``backend``; its report."""
    if importlib.util.find_spec(PACKAGE[backend]) is None:
        if backend in required():
            pytest.fail(f"UNFREEZE_REQUIRE_BACKENDS names {backend!r} but "
                        f"{PACKAGE[backend]!r} is not installed")
        pytest.skip(f"{PACKAGE[backend]!r} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report: dict[str, Any] = json.loads(out.read_text())
    assert report["backend"] == backend
    return report


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_backend_matrix(backend: str, tmp_path: Path) -> None:
    r = run_backend(backend, tmp_path / "report.json")

    # frozen is frozen (BatchNorm statistics too); a group trains from the epoch after
    # its unfreezing; iterations never reset
    f = r["freezing"]
    assert f["moved"] == {
        "l0": [False, False, False, True, True],
        "bn0": [False] * 5,
        "l1": [False, False, True, True, True],
        "bn1": [False] * 5,
        "head": [True] * 5,
    }
    assert f["iterations"] == [4, 8, 12, 16, 20]
    assert f["trainable"] == [2, 2, 4, 6, 6]
    assert f["timeline"] == [[0, 1], [1, 1], [2, 2], [3, 3], [4, 3]]

    # one optimizer throughout; the head's moments carried across the stage change; the
    # newly unfrozen layer's slots untouched while frozen, used afterwards
    for name, s in r["optimizer_state"].items():
        assert s == {
            "iterations": [4, 8, 12],
            "same_variables": True,
            "head_slots_nonzero": True,
            "head_slots_carried": True,
            "l0_slots_zero_while_frozen": True,
            "l0_slots_used_after": True,
            "l0_frozen_then_moves": [False, True, True],
        }, name

    # each step's update is exactly its group's rate times the gradient (None: it was
    # not a multiple of the gradient at all), and the logs say the same rates
    expected = {
        "discriminative": {"head": [0.1], "l0": [0.025]},
        "discriminative_decay": {"head": [0.1], "l0": [0.025]},
        "staged_warmup": {"head": [0.005, 0.01, 0.1, 0.1], "l0": [0.0, 0.0, 0.05, 0.1]},
    }
    for case, rates in expected.items():
        got = r["rates"][case]
        for layer, want in rates.items():
            assert None not in got["measured"][layer], (case, layer, got)
            assert got["measured"][layer] == pytest.approx(want, rel=1e-4, abs=1e-9), case
            assert got["logged"][layer] == pytest.approx(want, rel=1e-6), case
    if backend != "torch":  # compiled steps: one trace per stage, none per step
        assert r["rates"]["discriminative"]["traces"] == 1
        assert r["rates"]["staged_warmup"]["traces"] == 2

    # a plain fit after the run: base rate, frozen layers still frozen
    assert r["after_fit"]["during"] == pytest.approx(0.02, rel=1e-4)
    assert r["after_fit"]["after"] == pytest.approx(0.1, rel=1e-4)
    assert r["after_fit"]["l0_moved_after"] is False

    # per-group gradient norms are those of the train step's gradients, and GradNorm
    # advances mid-epoch (steps 3 and 6 of 4-step epochs)
    g = r["grad_norms"]
    assert g["read"] == pytest.approx(g["expected"], rel=1e-5)
    assert min(g["expected"]) > 0
    assert g["transitions"] == [3, 6]
    assert (g["l1_moved_epoch0"], g["l0_moved_epoch0"], g["l0_moved_epoch1"]) == (
        True, False, True)

    # save/load mid-schedule keeps the optimizer state, and the loaded model trains on
    s = r["saving"]
    assert s["n_restored"] == 2 + 2 * 4  # iterations, lr; l1 and head: kernel and bias
    assert s["restored_equal"]
    assert s["iterations"] == 12

    # a crashed run resumes from the driver's backup at the same stage and ends exactly
    # where the uninterrupted run ends
    assert r["resume"] == {
        "epochs_run": 3,
        "stages": [2.0, 3.0, 3.0],
        "iterations": 24,
        "transitions": [[1, 8], [3, 16]],
        "max_weight_diff": 0.0,
    }
