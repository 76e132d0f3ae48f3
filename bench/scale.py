"""Scale (item 6): groups and a full plan for big models, and peak memory.

Timing: :func:`unfreeze_core.keras.plan` (it resolves the groups, then lays out the
stages) on ``keras.applications.ResNet152V2(weights=None)`` and on a 24-layer BERT
backbone, cold (first call) and warm (median of repeats); the model's own construction
is not timed. Also timed, for context: the driver's whole setup at train begin
(``on_train_begin``: groups, optimizer built over every variable, patches, first
stage's flags) against building the same optimizer by hand.

Memory: each run is a separate process (``python -m bench.memory``) whose peak resident
set size (``VmHWM``, see :func:`bench.common.maxrss_mb`) is read after a progressive run
and after an unfreeze-everything run of the same model, epochs and data.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

import keras

from unfreeze_core import ByPatterns, FixedEpoch, PerLayer, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing, flatten_layers, plan
from unfreeze_core.keras.internals import sublayers

from .common import REPO, Stopwatch, log, median

__all__ = ["bert_backbone", "run_memory", "run_scale"]


def bert_backbone(num_layers: int, hidden: int, heads: int, intermediate: int,
                  vocabulary: int = 30522, sequence: int = 512) -> tuple[Any, str]:
    """A ``keras_hub`` BERT backbone built offline with explicit sizes (no preset).

    Without ``keras_hub`` (``pip install --no-deps keras-hub``), a functional model with
    the same layer structure is built instead; the returned description says which.
    """
    try:
        import keras_hub
    except Exception as exc:  # keras_hub absent or its imports fail here
        log(f"keras_hub unavailable ({type(exc).__name__}: {exc}); functional stand-in")
        return _bert_functional(num_layers, hidden, heads, intermediate, vocabulary, sequence)
    model = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary, num_layers=num_layers, num_heads=heads,
        hidden_dim=hidden, intermediate_dim=intermediate, max_sequence_length=sequence,
    )
    return model, (
        f"keras_hub {keras_hub.__version__} BertBackbone, {num_layers} transformer layers, "
        f"hidden {hidden}, {heads} heads, intermediate {intermediate}"
    )


def _bert_functional(num_layers: int, hidden: int, heads: int, intermediate: int,
                     vocabulary: int, sequence: int) -> tuple[Any, str]:
    L = keras.layers
    tokens = keras.Input((None,), dtype="int32", name="token_ids")
    segments = keras.Input((None,), dtype="int32", name="segment_ids")
    x = L.Embedding(vocabulary, hidden, name="token_embedding")(tokens)
    x = x + L.Embedding(2, hidden, name="segment_embedding")(segments)
    x = L.LayerNormalization(name="embeddings_layer_norm")(x)
    for i in range(num_layers):
        attn = L.MultiHeadAttention(heads, hidden // heads, name=f"transformer_layer_{i}_attn")
        x = L.LayerNormalization(name=f"transformer_layer_{i}_ln1")(x + attn(x, x))
        h = L.Dense(intermediate, activation="gelu", name=f"transformer_layer_{i}_ffn1")(x)
        h = L.Dense(hidden, name=f"transformer_layer_{i}_ffn2")(h)
        x = L.LayerNormalization(name=f"transformer_layer_{i}_ln2")(x + h)
    pooled = L.Dense(hidden, activation="tanh", name="pooled_dense")(x[:, 0])
    model = keras.Model([tokens, segments], pooled, name="bert_shaped")
    return model, (
        f"functional BERT-shaped model (keras_hub not installed): {num_layers} "
        f"transformer blocks, hidden {hidden}, {heads} heads, intermediate {intermediate}"
    )


def _time_plan(model: Any, schedule: Schedule, repeats: int) -> dict[str, Any]:
    times = []
    result = None
    for _ in range(repeats):
        with Stopwatch() as sw:
            result = plan(model, schedule, epochs=100)
        times.append(sw.seconds)
    assert result is not None
    return {
        "groups": len(result.groups),
        "stages": result.n_stages,
        "params": result.total_params,
        "cold_seconds": times[0],
        "warm_seconds": median(times[1:]) if len(times) > 1 else times[0],
    }


def _time_setup(model: Any) -> dict[str, Any]:
    """The driver's setup at train begin against building the optimizer by hand.

    The hand-built optimizer is timed before and after the driver's setup and the faster
    of the two is kept: the first large allocation of a process pays for page faults
    that later ones do not.
    """
    out: dict[str, Any] = {}
    variables = list(model.trainable_variables)

    def build_alone() -> float:
        with Stopwatch() as sw:
            keras.optimizers.Adam(1e-3).build(variables)
        gc.collect()
        return sw.seconds

    builds = [build_alone()]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    driver = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    driver.set_model(model)
    try:
        with Stopwatch() as sw:
            driver.on_train_begin()
        out["driver_setup_seconds"] = sw.seconds
        driver.on_train_end()
    except Exception as exc:  # reported, not fatal: the plan timing is the item
        out["driver_setup_error"] = f"{type(exc).__name__}: {exc}"
    model.trainable = True
    model.optimizer = None
    gc.collect()
    builds.append(build_alone())
    out["optimizer_build_seconds"] = min(builds)
    out["optimizer_build_each_seconds"] = builds
    return out


def run_scale(profile: Any) -> dict[str, Any]:
    """Time groups + plan on ResNet152V2 and the BERT backbone."""
    cases: dict[str, Any] = {}
    keras.utils.set_random_seed(0)
    with Stopwatch() as sw:
        if profile.resnet152:
            model = keras.applications.ResNet152V2(weights=None)
            description = "keras.applications.ResNet152V2(weights=None), 224x224x3, with top"
        else:
            model = keras.applications.ResNet50V2(weights=None, input_shape=(32, 32, 3),
                                                  classes=10)
            description = "keras.applications.ResNet50V2(weights=None), 32x32x3 (quick mode)"
    log(f"scale: built {model.name} ({len(model.layers)} layers) in {sw.seconds:.1f}s")
    specs = {
        "PerLayer()": PerLayer(),  # the many-groups stress case (Auto now finds blocks)
        "ByPatterns(conv1_..conv5_)": ByPatterns(["conv1_", "conv2_", "conv3_", "conv4_",
                                                  "conv5_"]),
    }
    cases["resnet"] = _case(model, description, specs, profile.scale_repeats, sw.seconds)
    del model
    gc.collect()
    with Stopwatch() as sw:
        model, description = bert_backbone(*profile.bert)
    log(f"scale: built {model.name} ({len(model.layers)} layers) in {sw.seconds:.1f}s")
    specs = {
        "PerLayer()": PerLayer(),  # the many-groups stress case (Auto now finds blocks)
        "ByPatterns(embedding, transformer_layer_(\\d+), pooled_dense)": ByPatterns(
            ["embedding", r"transformer_layer_(\d+)", "pooled_dense"]
        ),
    }
    cases["bert"] = _case(model, description, specs, profile.scale_repeats, sw.seconds)
    del model
    gc.collect()
    return {"cases": cases, "memory": run_memory(profile)}


def _count_layers(model: Any) -> int:
    """Every layer nested in ``model`` (each counted once), opened as the driver opens it."""
    seen: set[int] = set()
    stack = sublayers(model)
    while stack:
        layer = stack.pop()
        if id(layer) not in seen:
            seen.add(id(layer))
            stack.extend(sublayers(layer))
    return len(seen)


def _case(model: Any, description: str, specs: dict[str, Any], repeats: int,
          build_seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "layers": len(model.layers),
        "all_layers": _count_layers(model),
        "weighted_layers": len(flatten_layers(model)),
        "params": int(model.count_params()),
        "model_build_seconds": build_seconds,
        "plans": {},
    }
    for name, grouping in specs.items():
        out["plans"][name] = _time_plan(model, Schedule(FixedEpoch(every=1), groups=grouping),
                                        repeats)
        log(f"  plan {name}: {out['plans'][name]}")
    out["setup"] = _time_setup(model)
    log(f"  setup: {out['setup']}")
    return out


def run_memory(profile: Any) -> dict[str, Any]:
    """Peak RSS of a progressive run and of an unfreeze-everything run, one process each.

    The three processes (``idle``: import, build and compile only) run at the same time:
    each one's peak is its own, whatever the others do.
    """
    out: dict[str, Any] = {"model": profile.memory_model, "runs": {}}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    start = time.perf_counter()
    procs = {
        mode: subprocess.Popen(
            [sys.executable, "-m", "bench.memory", mode, profile.memory_model,
             str(profile.memory_steps)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for mode in ("idle", "progressive", "all")
    }
    for mode, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(
                f"memory worker {mode!r} failed with code {proc.returncode}:\n{stderr[-3000:]}"
            )
        result = json.loads(stdout.strip().splitlines()[-1])
        out["runs"][mode] = result
        log(f"  memory {mode}: peak {result['maxrss_mb']:.0f} MiB")
    out["seconds"] = time.perf_counter() - start
    runs = out["runs"]
    out["progressive_over_all"] = runs["progressive"]["maxrss_mb"] / runs["all"]["maxrss_mb"]
    above = runs["idle"]["maxrss_mb"]
    denominator = runs["all"]["maxrss_mb"] - above
    out["progressive_over_all_above_idle"] = (
        (runs["progressive"]["maxrss_mb"] - above) / denominator if denominator > 0
        else float("nan")
    )
    return out
