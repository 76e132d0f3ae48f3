"""Peak-memory worker: ``python -m bench.memory MODE MODEL STEPS`` (one run per process).

``MODE`` is ``idle`` (import, build and compile only), ``progressive`` (the driver,
``FixedEpoch(every=1)``, one epoch per stage) or ``all`` (every group trainable from the
start, same epochs). BatchNorm stays in inference mode in both. Prints one JSON line:
the peak resident set size (``VmHWM``) at the end and after each epoch.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .common import maxrss_mb, setup_env


def main(argv: list[str]) -> int:
    """Run one memory measurement and print its JSON line."""
    if len(argv) != 3 or argv[0] not in ("idle", "progressive", "all"):
        print("usage: python -m bench.memory idle|progressive|all small_cnn|resnet50 STEPS",
              file=sys.stderr)
        return 2
    mode, model_name, steps = argv[0], argv[1], int(argv[2])
    setup_env()
    import keras
    import numpy as np

    from unfreeze_core import FixedEpoch, Schedule
    from unfreeze_core.keras import ProgressiveUnfreezing

    from .models import resnet50_case, small_cnn_case
    from .speed_sides import set_stage

    after_import = maxrss_mb()
    if model_name == "resnet50":
        case = resnet50_case(samples=32 * steps, batch_size=32)
    elif model_name == "small_cnn":
        case = small_cnn_case(size=16, widths=(8, 16), samples=32 * steps, batch_size=32)
    else:
        print(f"unknown model {model_name!r}: use small_cnn or resnet50", file=sys.stderr)
        return 2
    keras.utils.set_random_seed(0)
    model = case.build()
    groups, bn = case.hand_groups(model), case.batchnorm(model)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(case.samples, *case.input_shape)).astype("float32")
    y = rng.integers(0, case.classes, size=case.samples).astype("int32")
    epochs = len(groups)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    peaks: list[float] = []

    class Peak(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            peaks.append(maxrss_mb())

    callbacks: list[Any] = [Peak()]
    if mode == "progressive":
        schedule = Schedule(FixedEpoch(every=1), groups=case.grouping)
        callbacks.insert(0, ProgressiveUnfreezing(schedule))
    else:
        set_stage(model, groups, bn, len(groups))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    after_build = maxrss_mb()
    if mode != "idle":
        model.fit(x, y, batch_size=case.batch_size, epochs=epochs, shuffle=False, verbose=0,
                  callbacks=callbacks)
    print(json.dumps({
        "mode": mode,
        "model": model_name,
        "epochs": 0 if mode == "idle" else epochs,
        "steps_per_epoch": case.steps_per_epoch,
        "maxrss_after_import_mb": after_import,
        "maxrss_after_build_mb": after_build,
        "maxrss_per_epoch_mb": peaks,
        "maxrss_mb": maxrss_mb(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
