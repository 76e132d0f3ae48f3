"""The two sizes of the benchmark: ``quick`` (a CI smoke run) and ``full`` (the numbers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["FULL", "PROFILES", "QUICK", "CachingPlan", "Profile", "SpeedPlan", "TransferPlan"]


@attrs.frozen
class SpeedPlan:
    """One speed case and how often its sides are repeated.

    Attributes:
        case: makes the :class:`~bench.models.SpeedCase` (imports Keras when called).
        reps: repetitions of the whole runs (items 1-4).
        rounds: interleaved blocks per side in the per-stage step timing (item 5).
        steps: train steps per block.
    """

    case: Callable[[], Any]
    reps: int
    rounds: int
    steps: int


def _small_cnn(**kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from .models import small_cnn_case

        return small_cnn_case(**kwargs)

    return make


def _resnet50(**kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        from .models import resnet50_case

        return resnet50_case(**kwargs)

    return make


@attrs.frozen
class TransferPlan:
    """Sizes of the real-weights transfer section (``bench/transfer``).

    Attributes:
        size: the tasks' data size, ``"quick"`` or ``"full"`` (each task's own numbers).
        seeds: one run per seed and arm and rate.
        lr_grid: base rates; each arm takes the one with the best mean validation accuracy.
        epochs: the epoch budget of every arm.
        batch_size: the batch size of every arm.
        tasks: task keys to run (empty: all).
        arms: arm keys to run (empty: all).
    """

    size: str
    seeds: tuple[int, ...]
    lr_grid: tuple[float, ...]
    epochs: int
    batch_size: int
    tasks: tuple[str, ...] = ()
    arms: tuple[str, ...] = ()


@attrs.frozen
class CachingPlan:
    """Sizes of the caching sections (issue 15): the per-stage floor and time to accuracy.

    Attributes:
        floor_rounds: repetitions of each side of the floor benchmark (alternating).
        tta_tasks: transfer task keys for time to accuracy.
        tta_size: the tasks' data size for time to accuracy (``"tta"``: more labels).
        tta_seeds: seeds of time to accuracy.
        tta_epochs: epoch budget of every time-to-accuracy arm.
        tta_batch_size: batch size of every time-to-accuracy arm.
        tta_more: the same measurement on more data: ``(task, size, arms)`` each, after
            the tasks of ``tta_tasks``.
    """

    floor_rounds: int
    tta_tasks: tuple[str, ...]
    tta_size: str
    tta_seeds: tuple[int, ...]
    tta_epochs: int
    tta_batch_size: int
    tta_more: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


@attrs.frozen
class Profile:
    """Every size knob of one benchmark run."""

    name: str
    speed: tuple[SpeedPlan, ...]
    resnet152: bool  # scale: ResNet152V2 at 224x224 (else a small ResNet50V2)
    bert: tuple[int, int, int, int, int, int]  # layers, hidden, heads, intermediate, vocab, seq
    scale_repeats: int
    memory_model: str
    memory_steps: int
    quality_data: str  # "fashion" or "digits"
    seeds: tuple[int, ...]
    lr_grid: tuple[float, ...]
    quality_epochs: int
    every: int
    labels_per_class: int
    batch_size: int
    target_val: int
    target_test: int
    source_train: int | None
    source_test: int
    pretrain_epochs: int
    transfer: TransferPlan
    caching: CachingPlan


QUICK = Profile(
    name="quick",
    speed=(SpeedPlan(_small_cnn(size=16, widths=(8, 16), samples=256, batch_size=64),
                     reps=2, rounds=2, steps=2),),
    resnet152=False,
    bert=(2, 64, 2, 128, 1000, 64),
    scale_repeats=3,
    memory_model="small_cnn",
    memory_steps=2,
    quality_data="digits",
    seeds=(0,),
    lr_grid=(3e-3,),
    quality_epochs=4,
    every=1,
    labels_per_class=10,
    batch_size=16,
    target_val=100,
    target_test=300,
    source_train=None,
    source_test=200,
    pretrain_epochs=15,
    transfer=TransferPlan(size="quick", seeds=(0,), lr_grid=(1e-4,), epochs=2, batch_size=10,
                          tasks=("vgg16_fashion",),  # the text task: tests/bench/test_minilm.py
                          arms=("head_only", "unfreeze_all", "gradual_discr_warmup")),
    caching=CachingPlan(floor_rounds=1, tta_tasks=("vgg16_fashion",), tta_size="quick",
                        tta_seeds=(0,), tta_epochs=2, tta_batch_size=10),
)

FULL = Profile(
    name="full",
    speed=(
        SpeedPlan(_small_cnn(), reps=21, rounds=25, steps=8),
        SpeedPlan(_resnet50(), reps=6, rounds=9, steps=3),
    ),
    resnet152=True,
    bert=(24, 1024, 16, 4096, 30522, 512),
    scale_repeats=5,
    memory_model="resnet50",
    memory_steps=4,
    quality_data="fashion",
    seeds=(0, 1, 2),
    lr_grid=(1e-3, 3e-3, 1e-2),
    quality_epochs=20,
    every=3,
    labels_per_class=50,
    batch_size=32,
    target_val=500,
    target_test=2000,
    source_train=12000,
    source_test=2000,
    pretrain_epochs=2,
    transfer=TransferPlan(size="full", seeds=(0, 1, 2), lr_grid=(1e-4, 1e-3), epochs=7,
                          batch_size=8),
    caching=CachingPlan(floor_rounds=2,
                        tta_tasks=("vgg16_fashion", "vgg16_mnist", "minilm_tweets"),
                        tta_size="tta", tta_seeds=(0, 1, 2), tta_epochs=7, tta_batch_size=16,
                        tta_more=(("vgg16_fashion", "tta_large",
                                   ("unfreeze_all", "recommended", "recommended_cached",
                                    "accuracy_first_cached")),)),
)

PROFILES = {"quick": QUICK, "full": FULL}
