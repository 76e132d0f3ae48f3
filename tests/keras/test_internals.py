"""The canary: every private Keras / backend name the driver uses exists on what is installed.

``unfreeze_core.keras.internals`` is the only module that touches private names; its
``PRIVATE`` table lists them with a probe each. These tests fail, naming the missing
name, the day a Keras (or TensorFlow, JAX, PyTorch) upgrade renames one; and they show
what a user sees at train begin: a warning outside the supported Keras releases, and a
``DriverError`` naming a missing name.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import pytest

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.errors import DriverError, UnfreezeWarning
from unfreeze_core.keras import ProgressiveUnfreezing, compat, internals

from .helpers import data, mlp, snapshot

pytestmark = pytest.mark.keras

PACKAGE = Path(internals.__file__).resolve().parents[1]


def _built() -> tuple[Any, Any]:
    model = mlp(widths=(4,))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model.optimizer, model


def test_every_private_name_exists_on_the_running_backend() -> None:
    optimizer, model = _built()
    backend = keras.backend.backend()
    assert internals.missing(optimizer, model) == [], (
        f"Keras {keras.__version__} ({backend}) lacks private names the driver uses"
    )
    used = [p for p in internals.PRIVATE if not p.backends or backend in p.backends]
    assert len(used) >= 20  # with KerasTensor._keras_history, Operation._inbound_nodes


# The other backends run in a process of their own: KERAS_BACKEND is read at import.
_PROBE = """
import json, sys, keras
from unfreeze_core.keras import internals
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
opt = keras.optimizers.AdamW(1e-3)
opt.build(model.trainable_variables)
print(json.dumps(internals.missing(opt, model)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_private_name_exists_on_the_other_backends(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend!r} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": "",
           "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    # a safety net against a hung process, never what decides on a busy machine
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                          text=True, timeout=900, cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    missing = json.loads(proc.stdout.strip().splitlines()[-1])
    assert missing == [], f"Keras on {backend} lacks private names the driver uses: {missing}"


def test_a_missing_name_is_named() -> None:
    optimizer, model = _built()
    gone = internals.Private("Optimizer._gone_in_keras_4", (), lambda o, m: hasattr(o, "_gone"))
    assert internals.missing(optimizer, model, entries=(gone,)) == ["Optimizer._gone_in_keras_4"]
    other = internals.Private("TFOnly._x", ("tensorflow",), lambda o, m: False)
    assert internals.missing(optimizer, model, backend="jax", entries=(other,)) == []


def test_no_other_module_touches_a_private_keras_name() -> None:
    """Private attribute reads live in internals.py only (the driver's own ``self._x``
    and the names it gives its own objects excepted)."""
    offenders = []
    for path in sorted((PACKAGE / "keras").glob("*.py")):
        if path.name == "internals.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and re.match(r"_[a-z]", node.attr):
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("self", "cls", "driver"):
                    continue
                offenders.append(f"{path.name}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
                offenders.append(f"{path.name}:{node.lineno}: from {node.module}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(
                r"_[a-z]\w*", node.value
            ):
                offenders.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert offenders == []


def test_supported_versions() -> None:
    assert compat.supported("3.15.1") and compat.supported("3.15.0")
    assert not compat.supported("3.16.0") and not compat.supported("3.14.9")
    assert not compat.supported("4.0.0") and not compat.supported("nightly")


def _fit(model: Any) -> None:
    x, y = data(16)
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))])


def test_outside_the_supported_range_warns_naming_both_versions(monkeypatch: Any) -> None:
    monkeypatch.setattr(compat, "keras_version", lambda: "3.17.2")
    model = mlp(widths=(4,))
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    wanted = r"tested with Keras 3\.15\.x.*installed Keras is 3\.17\.2"
    with pytest.warns(UnfreezeWarning, match=wanted):
        _fit(model)


def test_a_missing_private_name_refuses_before_training(monkeypatch: Any) -> None:
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    monkeypatch.delattr(BaseOptimizer, "_use_weight_decay")
    model = mlp(widths=(4,))
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    flags = [(la.name, la.trainable) for la in model.layers]
    weights = snapshot(model)
    wanted = r"lacks Optimizer\._use_weight_decay.*supports Keras 3\.15\.x"
    with pytest.raises(DriverError, match=wanted):
        _fit(model)
    assert [(la.name, la.trainable) for la in model.layers] == flags
    assert all((snapshot(model)[k] == v).all() for k, v in weights.items())
