"""The driver under ``keras.distribution`` on the JAX backend, one process, two devices.

``DataParallel`` and ``ModelParallel`` (kernels sharded over a ``model`` axis) take the
decisions of a one-device run, read the same gradient norms (those of the global
batch), apply the same per-group rates and end with the same weights.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .test_backends import PACKAGE, SAFETY_TIMEOUT, required

pytestmark = [pytest.mark.keras, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("jax_distribution_run.py")


def test_data_and_model_parallel_match_one_device(tmp_path: Path) -> None:
    if importlib.util.find_spec(PACKAGE["jax"]) is None:
        if "jax" in required():
            pytest.fail("UNFREEZE_REQUIRE_BACKENDS names 'jax' but it is not installed")
        pytest.skip("'jax' is not installed")
    out = tmp_path / "report.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out)], env=env,
                          cwd=SCRIPT.parents[2], capture_output=True, text=True,
                          timeout=SAFETY_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads(out.read_text())
    one = r["one_device"]
    assert one["kernel_shards"] == 1
    assert one["transitions"] == [[0, 5], [1, 10]]  # mid-epoch, 8 steps per epoch
    assert one["l0_moved"] == [False, True, True]
    assert r["data_parallel"]["kernel_shards"] == 2  # replicated on both devices
    assert r["model_parallel"]["sharding"] == "NamedSharding"
    for kind in ("data_parallel", "model_parallel"):
        run = r[kind]
        assert run["transitions"] == one["transitions"], kind
        assert run["l0_moved"] == one["l0_moved"], kind
        assert len(run["norms"]) == len(one["norms"]) == 4, kind
        np.testing.assert_allclose(run["norms"], one["norms"], rtol=1e-5)
        np.testing.assert_allclose(run["val_loss"], one["val_loss"], rtol=1e-5)
        assert run["lr"].keys() == one["lr"].keys()
        for key, rates in one["lr"].items():
            assert run["lr"][key] == pytest.approx(rates, rel=1e-6), (kind, key)
        for a, b in zip(run["weights"], one["weights"], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
