"""Quality: an ablation in the spirit of ULMFiT's (Howard & Ruder 2018, table 7).

Source task: Fashion-MNIST classes 0-4 (T-shirt, trouser, pullover, dress, coat), plenty
of labels; a small CNN is pretrained on it here, once per seed. Target task: classes 5-9
(sandal, shirt, sneaker, bag, ankle boot) with a few labels per class. Every arm starts
from the same pretrained backbone and the same fresh target head, and gets the same
epoch budget, batch size, optimizer (Adam) and base learning-rate grid. An arm's rate is
the grid value with the best mean *validation* accuracy over the seeds; the tables report
the held-out *test* accuracy at that rate.

Forgetting is measured as it hurts in practice: after fine-tuning, the untouched source
head is put back on the shared, fine-tuned backbone and scored on the source test set.
BatchNorm layers stay in inference mode in every arm (the schedules' default
``batchnorm="frozen"``; set by hand for the two plain-Keras arms).

The quick mode uses the 8x8 digits shipped in ``unfreeze_core/data`` instead (0-4 -> 5-9).
"""

from __future__ import annotations

import gc
import gzip
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import keras
import numpy as np

from unfreeze_core import Discriminative, FixedEpoch, GradNorm, Plateau, Schedule, Warmup
from unfreeze_core.keras import LOG_GROUPS, ProgressiveUnfreezing

from .common import REPO, log, mean_std

__all__ = ["Arm", "Task", "arms", "load_fashion", "make_task", "run_quality"]

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
STLR_PLUGIN = REPO / "plugins" / "unfreeze-slanted-triangular" / "src" / \
    "unfreeze_slanted_triangular" / "__init__.py"


class DataMissing(FileNotFoundError):
    """The Fashion-MNIST files are not installed."""


def _idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file (the MNIST format: magic, dims, then uint8 data)."""
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(directory: Path = FASHION_DIR) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)``: images ``(n, 28, 28, 1)`` in 0..1.

    Raises:
        DataMissing: the Debian package ``dataset-fashion-mnist`` is not installed.
    """
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    missing = [n for n in names if not (directory / n).exists()]
    if missing:
        raise DataMissing(
            f"Fashion-MNIST not found in {directory} (missing {', '.join(missing)}): "
            "install it with `apt-get install -y dataset-fashion-mnist` (Debian/Ubuntu), "
            "or run the quick mode (`python -m bench run --quick`), which uses the digits "
            "shipped with unfreeze-core"
        )
    xtr, ytr, xte, yte = (_idx(directory / n) for n in names)
    scale = np.float32(1 / 255)
    return (xtr[..., None].astype("float32") * scale, ytr.astype("int64"),
            xte[..., None].astype("float32") * scale, yte.astype("int64"))


def load_digits_split(seed: int = 0) -> tuple[np.ndarray, ...]:
    """The shipped 8x8 digits split 70/30 into a train and a test pool."""
    from unfreeze_core.demo.data import load_digits

    x, y = load_digits()
    order = np.random.default_rng(1000 + seed).permutation(len(y))
    cut = int(len(y) * 0.7)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


@attrs.frozen(eq=False)
class Task:
    """Source (classes 0-4) and few-label target (classes 5-9, relabelled 0-4) splits."""

    source_train: tuple[np.ndarray, np.ndarray]
    source_test: tuple[np.ndarray, np.ndarray]
    target_train: tuple[np.ndarray, np.ndarray]
    target_val: tuple[np.ndarray, np.ndarray]
    target_test: tuple[np.ndarray, np.ndarray]


def make_task(pools: tuple[np.ndarray, ...], seed: int, profile: Any) -> Task:
    """Draw the splits of one seed from the train and test pools."""
    xtr, ytr, xte, yte = pools
    rng = np.random.default_rng(seed)

    def pick(y: np.ndarray, classes: range, n: int | None,
             exclude: np.ndarray | None = None) -> np.ndarray:
        idx = np.flatnonzero(np.isin(y, list(classes)))
        if exclude is not None:
            idx = np.setdiff1d(idx, exclude)
        idx = rng.permutation(idx)
        return idx if n is None else idx[:n]

    src_tr = pick(ytr, range(5), profile.source_train)
    src_te = pick(yte, range(5), profile.source_test)
    per_class = [
        rng.permutation(np.flatnonzero(ytr == c))[:profile.labels_per_class] for c in range(5, 10)
    ]
    tgt_tr = rng.permutation(np.concatenate(per_class))
    tgt_val = pick(ytr, range(5, 10), profile.target_val, exclude=tgt_tr)
    tgt_te = pick(yte, range(5, 10), profile.target_test)
    return Task(
        source_train=(xtr[src_tr], ytr[src_tr]),
        source_test=(xte[src_te], yte[src_te]),
        target_train=(xtr[tgt_tr], ytr[tgt_tr] - 5),
        target_val=(xtr[tgt_val], ytr[tgt_val] - 5),
        target_test=(xte[tgt_te], yte[tgt_te] - 5),
    )


def build_backbone(input_shape: tuple[int, ...], widths: tuple[int, ...] = (16, 32, 64)
                   ) -> keras.Model:
    """Conv-BN-ReLU-pool blocks and a dense layer: groups conv1..conv3, dense (+ head)."""
    inputs = keras.Input(input_shape, name="image")
    h = inputs
    size = input_shape[0]
    for i, width in enumerate(widths, 1):
        h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(h)
        h = keras.layers.Activation("relu", name=f"relu{i}")(h)
        if size >= 2:
            h = keras.layers.MaxPooling2D(name=f"pool{i}")(h)
            size //= 2
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(64, activation="relu", name="dense")(h)
    return keras.Model(inputs, h, name="backbone")


def _attach(backbone: keras.Model, head: keras.layers.Layer, name: str) -> keras.Model:
    inputs = keras.Input(backbone.input_shape[1:], name="image")
    return keras.Model(inputs, head(backbone(inputs)), name=name)


def _accuracy(model: keras.Model, split: tuple[np.ndarray, np.ndarray]) -> float:
    """Accuracy of eager calls in chunks (``predict`` would trace a function per model)."""
    x, y = split
    hits = 0
    for i in range(0, len(y), 1000):
        logits = keras.ops.convert_to_numpy(model(x[i:i + 1000], training=False))
        hits += int(np.sum(np.argmax(logits, axis=-1) == y[i:i + 1000]))
    return hits / len(y)


def _loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@attrs.frozen
class Arm:
    """One strategy of the ablation: plain Keras (``train_backbone``) or a schedule."""

    key: str
    label: str
    schedule: Callable[[Any, int], Schedule] | None = None
    train_backbone: bool = False


def _stlr_rule(total_steps: int) -> Any | None:
    """The example plugin's ``SlantedTriangular`` rule, loaded from its source file."""
    if not STLR_PLUGIN.exists():
        return None
    spec = importlib.util.spec_from_file_location("bench_stlr_plugin", STLR_PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SlantedTriangular(total_steps=total_steps)


def arms(profile: Any) -> list[Arm]:
    """The ablation's arms (the slanted-triangular one when the plugin's source exists)."""
    every = profile.every

    def gradual(rules: Callable[[Any, int], list[Any]]) -> Callable[[Any, int], Schedule]:
        return lambda p, spe: Schedule(FixedEpoch(every=every), rules=rules(p, spe))

    out = [
        Arm("head_only", "head only"),
        Arm("unfreeze_all", "unfreeze everything", train_backbone=True),
        Arm("gradual", f"gradual (FixedEpoch every={every})", gradual(lambda p, s: [])),
        Arm("gradual_discr", "gradual + Discriminative(2.6)",
            gradual(lambda p, s: [Discriminative(factor=2.6)])),
        Arm("gradual_discr_warmup", "gradual + Discriminative(2.6) + Warmup",
            gradual(lambda p, s: [Discriminative(factor=2.6), Warmup(steps=2 * s)])),
        Arm("plateau", "Plateau(val_loss, patience=1, min_delta=0.01)",
            lambda p, s: Schedule(Plateau(monitor="val_loss", patience=1, min_delta=0.01,
                                          min_rel_delta=0.0, unfrozen_by=None))),
        Arm("gradnorm", "GradNorm(fraction=0.5, window=4, check_every=2)",
            lambda p, s: Schedule(GradNorm(fraction=0.5, window=4, check_every=2,
                                           unfrozen_by=None))),
    ]
    if STLR_PLUGIN.exists():
        out.append(Arm(
            "slanted_triangular", "gradual + Discriminative(2.6) + slanted triangular (plugin)",
            gradual(lambda p, s: [Discriminative(factor=2.6),
                                  _stlr_rule(p.quality_epochs * s)]),
        ))
    return out



class Ablation:
    """One seed: pretrain once, then fine-tune every arm at every grid rate."""

    def __init__(self, task: Task, seed: int, profile: Any):
        self.task = task
        self.seed = seed
        self.profile = profile
        self.input_shape = task.source_train[0].shape[1:]
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        backbone = build_backbone(self.input_shape)
        source = _attach(backbone, keras.layers.Dense(5, name="source_head"), "source")
        source.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_loss())
        start = time.perf_counter()
        source.fit(*task.source_train, epochs=profile.pretrain_epochs, batch_size=64,
                   verbose=0)
        self.pretrain_seconds = time.perf_counter() - start
        self.source_accuracy = _accuracy(source, task.source_test)
        target_head = keras.layers.Dense(5, name="target_head")
        target_head.build((None, 64))
        self.backbone_weights = backbone.get_weights()
        self.source_head = source.get_layer("source_head").get_weights()
        self.target_head = target_head.get_weights()
        log(f"quality seed {seed}: pretrained in {self.pretrain_seconds:.1f}s, "
            f"source accuracy {self.source_accuracy:.3f}")

    def run(self, arm: Arm, lr: float) -> dict[str, Any]:
        p, t = self.profile, self.task
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.seed + 1)
        backbone = build_backbone(self.input_shape)
        backbone.set_weights(self.backbone_weights)
        source_head = keras.layers.Dense(5, name="source_head")
        source = _attach(backbone, source_head, "source")
        source_head.set_weights(self.source_head)
        target_head = keras.layers.Dense(5, name="target_head")
        target = _attach(backbone, target_head, "target")
        target_head.set_weights(self.target_head)
        steps = -(-len(t.target_train[1]) // p.batch_size)
        callbacks: list[Any] = []
        if arm.schedule is not None:
            callbacks.append(ProgressiveUnfreezing(arm.schedule(p, steps)))
        else:
            backbone.trainable = arm.train_backbone
            for layer in backbone.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        target.compile(optimizer=keras.optimizers.Adam(lr), loss=_loss(), metrics=["accuracy"])
        start = time.perf_counter()
        history = target.fit(*t.target_train, validation_data=t.target_val,
                             epochs=p.quality_epochs, batch_size=p.batch_size, verbose=0,
                             callbacks=callbacks)
        seconds = time.perf_counter() - start
        h = history.history
        result = {
            "arm": arm.key,
            "lr": lr,
            "seed": self.seed,
            "val_accuracy": float(h["val_accuracy"][-1]),
            "target_accuracy": _accuracy(target, t.target_test),
            "source_accuracy_before": self.source_accuracy,
            "source_accuracy_after": _accuracy(source, t.source_test),
            "seconds": seconds,
            "stages": [int(s) for s in h.get(LOG_GROUPS, [])],  # groups trainable
        }
        del target, source, backbone
        gc.collect()
        return result


def run_quality(profile: Any) -> dict[str, Any]:
    """Every arm, every grid rate, every seed; then each arm at its best rate."""
    if profile.quality_data == "fashion":
        pools = load_fashion()
        data = ("Fashion-MNIST (Debian package dataset-fashion-mnist), classes 0-4 -> 5-9, "
                "28x28x1")
    else:
        pools = load_digits_split()
        data = "digits shipped in unfreeze_core/data (8x8x1), classes 0-4 -> 5-9"
    all_arms = arms(profile)
    runs: list[dict[str, Any]] = []
    pretrain: list[dict[str, Any]] = []
    for seed in profile.seeds:
        task = make_task(pools, seed, profile)
        ablation = Ablation(task, seed, profile)
        pretrain.append({"seed": seed, "seconds": ablation.pretrain_seconds,
                         "source_accuracy": ablation.source_accuracy})
        for arm in all_arms:
            for lr in profile.lr_grid:
                result = ablation.run(arm, lr)
                runs.append(result)
                log(f"  seed {seed} {arm.key:<22} lr {lr:g}: target "
                    f"{result['target_accuracy']:.3f}, source "
                    f"{result['source_accuracy_after']:.3f}, {result['seconds']:.1f}s")
    table = []
    for arm in all_arms:
        by_lr = {lr: [r for r in runs if r["arm"] == arm.key and r["lr"] == lr]
                 for lr in profile.lr_grid}
        best = max(profile.lr_grid,
                   key=lambda lr: float(np.mean([r["val_accuracy"] for r in by_lr[lr]])))
        chosen = by_lr[best]
        row: dict[str, Any] = {"arm": arm.key, "label": arm.label, "lr": best}
        for key in ("target_accuracy", "source_accuracy_after", "val_accuracy", "seconds"):
            m, s = mean_std([r[key] for r in chosen])
            row[key] = {"mean": m, "std": s}
        lost = [r["source_accuracy_before"] - r["source_accuracy_after"] for r in chosen]
        m, s = mean_std(lost)
        row["source_accuracy_lost"] = {"mean": m, "std": s}
        row["grid"] = {
            str(lr): {
                "target_accuracy": mean_std([r["target_accuracy"] for r in by_lr[lr]])[0],
                "source_accuracy_after": mean_std(
                    [r["source_accuracy_after"] for r in by_lr[lr]])[0],
                "val_accuracy": mean_std([r["val_accuracy"] for r in by_lr[lr]])[0],
            }
            for lr in profile.lr_grid
        }
        row["stages_by_seed"] = [r["stages"] for r in chosen]
        table.append(row)
    src = [p["source_accuracy"] for p in pretrain]
    return {
        "data": data,
        "settings": {
            "seeds": list(profile.seeds),
            "lr_grid": list(profile.lr_grid),
            "epochs": profile.quality_epochs,
            "batch_size": profile.batch_size,
            "labels_per_class": profile.labels_per_class,
            "target_val": profile.target_val,
            "target_test": profile.target_test,
            "source_train": profile.source_train,
            "source_test": profile.source_test,
            "pretrain_epochs": profile.pretrain_epochs,
            "fixed_epoch_every": profile.every,
            "optimizer": "Adam",
        },
        "pretrain": pretrain,
        "source_accuracy_pretrained": {"mean": mean_std(src)[0], "std": mean_std(src)[1]},
        "arms": table,
        "runs": runs,
    }
