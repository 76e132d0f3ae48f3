"""The transfer-task interface of the real-weights benchmark (issue 14).

A task pairs a network with real pretrained weights (loaded offline from a pip or Debian
package) with a small labelled target problem, and says how to measure what the network
could do *before* fine-tuning, so that forgetting is a number:

- :meth:`TransferTask.data` gives the train / validation / test splits of the target task;
- :meth:`TransferTask.build` gives a fresh model: the pretrained backbone plus a fresh
  ``Dense(n_classes)`` layer named ``"head"`` (logits), not compiled, seeded;
- :meth:`TransferTask.source_score` measures the original ability through the model's
  shared backbone layers (0..1, higher is better), before and after fine-tuning.

The runner (:mod:`bench.transfer.runner`) compiles each model with Adam and
``SparseCategoricalCrossentropy(from_logits=True)``, fits it under one arm, and scores the
target test accuracy and the source score after. Tasks are listed in :data:`TASK_FACTORIES`
(:func:`all_tasks`); a task whose package is missing says so through ``available()`` and
is skipped with that reason in the results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
import numpy as np

if TYPE_CHECKING:  # keras is imported lazily: listing tasks must stay cheap
    import keras

__all__ = ["SIZES", "Split", "TaskData", "TransferTask", "all_tasks", "check_task_data"]

#: The sizes a task's data comes in: a smoke run (seconds), the benchmark's numbers, and
#: the time to accuracy's (more labels; ``tta_large``: more again, vision tasks only).
SIZES = ("quick", "full", "tta", "tta_large")


@attrs.frozen(eq=False)
class Split:
    """One split of a target task.

    Attributes:
        x: the inputs: an ``np.ndarray``, or a ``dict[str, np.ndarray]`` (for a text
            model, e.g. ``{"token_ids": ..., "padding_mask": ...}``); first axis = examples.
        y: ``int64`` class ids in ``0..n_classes-1``, one per example.
    """

    x: Any
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@attrs.frozen(eq=False)
class TaskData:
    """The three splits of a target task: fit on ``train``, choose the rate on ``val``,
    report ``test``."""

    train: Split
    val: Split
    test: Split


@runtime_checkable
class TransferTask(Protocol):
    """What the runner needs from one transfer task.

    Attributes:
        key: short identifier, e.g. ``"vgg16_fashion"``, ``"minilm_tweets"``.
        label: table row label, e.g. ``"VGG16 (HED) -> Fashion-MNIST, 20 labels/class"``.
        network: the network and where its weights come from, with the licence.
        n_classes: number of target classes.
        source_metric: what :meth:`source_score` measures, one sentence for the docs.
    """

    key: str
    label: str
    network: str
    n_classes: int
    source_metric: str

    def available(self) -> str | None:
        """``None`` when the task can run; else why not (package missing + how to install)."""
        ...

    def data(self, seed: int, size: str) -> TaskData:
        """The target splits for ``seed`` at ``size`` (``"quick"`` or ``"full"``)."""
        ...

    def build(self, seed: int) -> keras.Model:
        """A fresh model: pretrained backbone (offline) + fresh ``Dense(n_classes)`` named
        ``"head"`` producing logits; not compiled; every random initialiser seeded."""
        ...

    def source_score(self, model: keras.Model) -> float:
        """The pretrained network's original ability, measured through ``model``'s shared
        backbone layers (0..1, higher is better); called before and after fine-tuning."""
        ...

    def grouping(self) -> Any:
        """A grouping for the schedules (``None`` = the library's default, ``Auto()``)."""
        ...


def check_task_data(task: TransferTask, data: TaskData) -> None:
    """Raise ``ValueError`` when ``data`` breaks the interface (labels, lengths, dtype)."""
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        y = np.asarray(split.y)
        if y.dtype != np.int64:
            raise ValueError(f"{task.key}.{name}.y must be int64, got {y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= task.n_classes):
            raise ValueError(f"{task.key}.{name}.y outside 0..{task.n_classes - 1}")
        xs = split.x.values() if isinstance(split.x, dict) else [split.x]
        for x in xs:
            if len(x) != len(y):
                raise ValueError(f"{task.key}.{name}: {len(x)} inputs for {len(y)} labels")


def _vision() -> list[TransferTask]:
    from .vision_tasks import VISION_TASKS

    return list(VISION_TASKS)


def _text() -> list[TransferTask]:
    try:
        from .text_tasks import TEXT_TASKS  # H1's module; absent until it lands
    except ImportError:
        return []
    return list(TEXT_TASKS)


#: Where the tasks come from, in table order: vision (``vision_tasks.VISION_TASKS``),
#: then text (``text_tasks.TEXT_TASKS``, a list of task objects).
TASK_FACTORIES: tuple[Callable[[], list[TransferTask]], ...] = (_vision, _text)


def all_tasks() -> list[TransferTask]:
    """Every task of the benchmark, available or not (the runner records why not)."""
    return [task for factory in TASK_FACTORIES for task in factory()]
