"""Frozen-prefix caching on the JAX backend (TensorFlow: tests/keras/test_cache.py).

``cache_run.py`` trains an attention block with a mask input twice in a JAX process,
with ``model.fit`` and with the caching ``fit``; the timelines and weights must agree.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("cache_run.py")
#: A safety net against a hung process, never what decides on a busy machine.
SAFETY_TIMEOUT = 900.0


def test_cached_fit_on_jax_equals_model_fit(tmp_path: Path) -> None:
    if importlib.util.find_spec("jax") is None:
        if "jax" in os.environ.get("UNFREEZE_REQUIRE_BACKENDS", ""):
            pytest.fail("UNFREEZE_REQUIRE_BACKENDS names 'jax' but it is not installed")
        pytest.skip("'jax' is not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), str(out)], env=env,
                          cwd=SCRIPT.parents[2], capture_output=True, text=True,
                          timeout=SAFETY_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads(out.read_text())
    assert r["backend"] == "jax"
    assert r["timeline"] == r["timeline_cached"] == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert r["max_weight_diff"] < 1e-5
    assert r["iterations"] == 16
    # the mask input crosses the cut beside the attention block's input
    assert "cached at 'ln', 'mask'" in proc.stdout or "cached at 'mask', 'ln'" in proc.stdout
