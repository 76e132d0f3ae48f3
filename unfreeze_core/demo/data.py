"""The demo's data: handwritten digits shipped inside the package, split into two tasks.

``digits.csv.gz`` is scikit-learn's copy of the UCI "Optical Recognition of Handwritten
Digits" test set (1797 images, 8x8 pixels, values 0..16, about 180 per class; data CC BY
4.0, file from scikit-learn under BSD-3; see ``docs/demo.md``). Nothing is downloaded.

The transfer task: the **source** task is telling digits 0-4 apart (plenty of labels, used
to pretrain), the **target** task is telling digits 5-9 apart with only a few labels per
class. Pure NumPy, no TensorFlow.
"""

from __future__ import annotations

import gzip
from importlib import resources

import attrs
import numpy as np

__all__ = ["DIGITS_FILE", "Split", "TransferData", "load_digits", "make_transfer"]

DIGITS_FILE = "digits.csv.gz"


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits: images ``(n, 8, 8, 1)`` scaled to 0..1 (float32), labels ``(n,)``.

    Example:
        >>> x, y = load_digits()
        >>> x.shape, y.shape, int(y.max())
        ((1797, 8, 8, 1), (1797,), 9)
    """
    raw = resources.files("unfreeze_core").joinpath("data", DIGITS_FILE).read_bytes()
    table = np.loadtxt(gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",")
    x = (table[:, :64] / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    y = table[:, 64].astype("int64")
    return x, y


@attrs.frozen(eq=False)
class Split:
    """Images and integer labels (``0..4`` within each task)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@attrs.frozen(eq=False)
class TransferData:
    """The source task (digits 0-4) and the few-label target task (digits 5-9).

    Attributes:
        source_train, source_test: 80 % / 20 % of the digits 0-4.
        target_train: ``labels_per_class`` labelled examples of each digit 5-9.
        target_val: a held-out set of digits 5-9 that the schedule's policy watches.
        target_test: every remaining digit 5-9, for the final score.
    """

    source_train: Split
    source_test: Split
    target_train: Split
    target_val: Split
    target_test: Split


def make_transfer(seed: int, *, labels_per_class: int = 10, val_size: int = 100) -> TransferData:
    """Split the digits into the two tasks; the same ``seed`` gives the same split.

    Args:
        seed: seed of the shuffles.
        labels_per_class: labelled target examples per digit (5..9).
        val_size: size of the target validation set.

    Raises:
        ValueError: the numbers leave no target test set.

    Example:
        >>> d = make_transfer(0, labels_per_class=10)
        >>> len(d.target_train), len(d.target_val), sorted(set(d.target_train.y.tolist()))
        (50, 100, [0, 1, 2, 3, 4])
    """
    x, y = load_digits()
    rng = np.random.default_rng(seed)
    source = np.flatnonzero(y < 5)
    target = np.flatnonzero(y >= 5)
    rng.shuffle(source)
    rng.shuffle(target)
    cut = round(len(source) * 0.8)
    fewest = min(int(np.sum(y[target] == c)) for c in range(5, 10))
    most = min(fewest - 1, (len(target) - val_size - 1) // 5)
    if not 1 <= labels_per_class <= most:
        raise ValueError(
            f"labels_per_class must be between 1 and {most} (the digits 5-9 have "
            f"{len(target)} images, {val_size} of them kept for validation and at least one "
            f"for the test), got {labels_per_class}"
        )
    train = np.concatenate([target[y[target] == c][:labels_per_class] for c in range(5, 10)])
    rest = np.setdiff1d(target, train)
    rng.shuffle(rest)
    val, test = rest[:val_size], rest[val_size:]
    rng.shuffle(train)

    def part(idx: np.ndarray, offset: int) -> Split:
        return Split(x[idx], y[idx] - offset)

    return TransferData(
        source_train=part(source[:cut], 0),
        source_test=part(source[cut:], 0),
        target_train=part(train, 5),
        target_val=part(val, 5),
        target_test=part(test, 5),
    )
