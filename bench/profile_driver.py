"""Profile of the driver's own costs: the re-trace at a stage change and the train step.

``python -m bench.profile_driver [small_cnn|resnet50] [REPS] [ROUNDS] [STEPS]`` builds
the same model at its last stage (every group trainable) several times over:

- ``plain``: hand-written (optimizer prebuilt over every variable, flags set, no driver);
- ``driver``: ``ProgressiveUnfreezing``, no LR rules (the optimizer's own
  ``update_step`` stays unpatched);
- ``driver_rules``: + ``Discriminative(2.6)``, ``Warmup``, ``StageScaled(1.5)``;
- ``driver_warmup``: only the ``Warmup`` rule (the one that depends on the step), to
  price the rules that depend on the stage and depth only;
- ``driver_gradnorm``: ``FixedEpoch | GradNorm(threshold=1e-30, check_every=10, window=10)``, no
  rules: the in-graph gradient-norm accumulation;
- ``driver_gradnorm_per_variable``: the same with :func:`per_variable_accumulate_norm`,
  the accumulation as the driver first wrote it (one accumulator write per variable),
  to price the batched write the driver does now.

Then, rotating the sides, it times ``REPS`` re-traces of each (``make_train_function
(force=True)`` + first call, minus a steady call) and ``ROUNDS`` blocks of ``STEPS``
train steps of each (wall and process CPU time), and the time spent inside the driver's
``rate`` during one trace. Prints one JSON line. The drivers stay installed on their own
optimizer instances throughout, so a re-trace always includes their patches; nothing of
the driver is changed outside this process.
"""

from __future__ import annotations

import json
import sys
import time
import types
from typing import Any

from .common import machine_info, median, rotated, setup_env


def per_variable_accumulate_norm(self: Any, gradient: Any, variable: Any) -> None:
    """The driver's gradient-norm accumulation before it batched the writes.

    Every variable's update took its own read-step test, square-sum, one-hot product and
    ``assign_add`` into the accumulator; the driver now sums the squares per group and
    writes once per step (``OptimizerDriver._accumulate_norm``).
    """
    import numpy as np
    from keras import ops

    if self.norms_sq is None or gradient is None:
        return
    one_hot = np.eye(self.n_groups + 2, dtype=np.float32)[self._slot(variable)]
    step = ops.cast(self.opt.iterations, "int32") + 1
    is_read = ops.equal(step % self.norm_every[0], 0)
    for every in self.norm_every[1:]:
        is_read = ops.logical_or(is_read, ops.equal(step % every, 0))
    values = ops.cast(getattr(gradient, "values", gradient), "float32")
    sq = ops.where(is_read, ops.sum(ops.square(values)), 0.0)
    self.opt.assign_add(self.norms_sq, ops.convert_to_tensor(one_hot) * sq)


def main(argv: list[str]) -> int:
    """Run the profile and print its JSON line."""
    setup_env()
    import keras
    import numpy as np
    import tensorflow as tf

    from unfreeze_core import (
        Discriminative,
        FixedEpoch,
        GradNorm,
        Schedule,
        StageScaled,
        Warmup,
    )
    from unfreeze_core.keras import ProgressiveUnfreezing

    from .models import resnet50_case, small_cnn_case
    from .speed_sides import set_stage

    name = argv[0] if argv else "small_cnn"
    reps = int(argv[1]) if len(argv) > 1 else 5
    rounds = int(argv[2]) if len(argv) > 2 else 15
    steps = int(argv[3]) if len(argv) > 3 else 8
    case = resnet50_case() if name == "resnet50" else small_cnn_case()
    bs = case.batch_size
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * bs, *case.input_shape)).astype("float32")
    y = rng.integers(0, case.classes, size=4 * bs).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(bs, drop_remainder=True).repeat()

    def loss() -> Any:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    keras.utils.set_random_seed(0)
    plain = case.build()
    initial = plain.get_weights()
    groups, bn = case.hand_groups(plain), case.batchnorm(plain)
    n = len(groups)
    set_stage(plain, groups, bn, n)
    opt = keras.optimizers.Adam(1e-3)
    opt.build(plain.trainable_variables)
    plain.compile(optimizer=opt, loss=loss())
    plain.fit(x[:bs], y[:bs], batch_size=bs, epochs=1, verbose=0)
    models: dict[str, Any] = {"plain": plain}
    drivers: dict[str, Any] = {}
    rate_seconds: dict[str, float] = {}
    rules: list[Any] = [Discriminative(factor=2.6), Warmup(steps=4), StageScaled(factor=1.5)]
    sides = ("driver", "driver_rules", "driver_warmup", "driver_gradnorm",
             "driver_gradnorm_per_variable")
    for side in sides:
        model = case.build()
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss())
        side_rules = rules if "rules" in side else [Warmup(steps=4)] if "warmup" in side else []
        policy: Any = FixedEpoch(every=10**6)
        if "gradnorm" in side:
            policy = policy | GradNorm(threshold=1e-30, check_every=10, window=10,
                                       unfrozen_by=None)
        schedule = Schedule(policy, rules=side_rules, initial=n, groups=case.grouping)
        cb = ProgressiveUnfreezing(schedule)
        spent = [0.0]

        class Timed(keras.callbacks.Callback):
            def __init__(self, side: str, cb: Any, spent: list[float]):
                super().__init__()
                self.side, self.cb, self.spent = side, cb, spent

            def on_train_begin(self, logs: Any = None) -> None:
                driver = self.cb.driver
                inner = type(driver).rate
                spent = self.spent

                def rate(this: Any, learning_rate: Any, variable: Any) -> Any:
                    start = time.perf_counter()
                    try:
                        return inner(this, learning_rate, variable)
                    finally:
                        spent[0] += time.perf_counter() - start

                driver.rate = types.MethodType(rate, driver)
                if self.side == "driver_gradnorm_per_variable":
                    driver._accumulate_norm = types.MethodType(
                        per_variable_accumulate_norm, driver
                    )

        model.fit(x[:bs], y[:bs], batch_size=bs, epochs=1, verbose=0,
                  callbacks=[cb, Timed(side, cb, spent)])
        rate_seconds[side] = spent[0]  # one trace
        assert cb.driver is not None
        cb.driver.install()  # keep the patches for the re-traces below
        model.make_train_function()  # the driver drops its traced step at train end
        models[side], drivers[side] = model, cb.driver
    iterators = {k: iter(data) for k in models}

    def step(k: str) -> Any:
        return float(keras.ops.convert_to_numpy(models[k].train_function(iterators[k])["loss"]))

    for k in models:
        step(k)
        step(k)
    trace: dict[str, list[float]] = {k: [] for k in models}
    for rep in range(reps):
        for k in rotated(list(models), rep):
            start = time.perf_counter()
            models[k].make_train_function(force=True)
            step(k)
            first = time.perf_counter() - start
            start = time.perf_counter()
            step(k)
            trace[k].append(first - (time.perf_counter() - start))
        print(f"trace rep {rep + 1}/{reps}: " + ", ".join(
            f"{k} {v[-1] * 1000:.0f}ms" for k, v in trace.items()), file=sys.stderr)
    for k in models:
        step(k)
    wall: dict[str, list[float]] = {k: [] for k in models}
    cpu: dict[str, list[float]] = {k: [] for k in models}
    for r in range(rounds):
        for k in rotated(list(models), r):
            w, c = time.perf_counter(), time.process_time()
            for _ in range(steps):
                out = models[k].train_function(iterators[k])
            keras.ops.convert_to_numpy(out["loss"])
            wall[k].append((time.perf_counter() - w) / steps)
            cpu[k].append((time.process_time() - c) / steps)

    def ratios(values: dict[str, list[float]]) -> dict[str, float]:
        return {
            k: median([a / b for a, b in zip(v, values["plain"], strict=True)])
            for k, v in values.items() if k != "plain"
        }

    out = {
        "meta": machine_info(),
        "model": case.name,
        "variables": len(plain.trainable_variables),
        "reps": reps,
        "rounds": rounds,
        "steps": steps,
        "rate_seconds_in_one_trace": rate_seconds,
        "trace_seconds": {k: median(v) for k, v in trace.items()},
        "trace_over_plain": ratios(trace),
        "step_seconds": {k: median(v) for k, v in wall.items()},
        "step_over_plain": ratios(wall),
        "step_cpu_over_plain": ratios(cpu),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
