"""Frozen-prefix caching on one backend: a cached run against ``model.fit``, as JSON.

Run as ``KERAS_BACKEND=jax python cache_run.py OUT.json``. The model is a small
attention block with an attention-mask input, so two stages have a cut of two tensors
(the block's input and the mask). ``test_cache_backends.py`` makes the assertions.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from unfreeze_core import FixedEpoch, ProgressiveUnfreezing, Schedule
    from unfreeze_core.keras import fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 4)).astype("float32")
    mask = (rng.random((32, 6, 6)) > 0.3).astype("float32")
    y = rng.integers(0, 2, 32)

    def model() -> Any:
        tokens, m = keras.Input((6, 4), name="tokens"), keras.Input((6, 6), name="mask")
        h = keras.layers.Dense(8, name="embed")(tokens)
        h = keras.layers.LayerNormalization(name="ln")(h)
        a = keras.layers.MultiHeadAttention(2, 4, name="mha")(h, h, attention_mask=m)
        h = keras.layers.Add(name="residual")([h, a])
        out = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling1D()(h))
        net = keras.Model({"tokens": tokens, "mask": m}, out)
        net.compile(optimizer=keras.optimizers.Adam(1e-2),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return net

    def run(cache: bool) -> tuple[Any, Any]:
        keras.utils.set_random_seed(0)
        net = model()
        cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1), groups="per_layer"),
                                   cache=cache, verbose=1)
        data = {"tokens": x, "mask": mask}
        kw: dict[str, Any] = dict(batch_size=8, epochs=4, verbose=0, callbacks=[cb],
                                  shuffle=False)
        (fit(net, data, y, **kw) if cache else net.fit(data, y, **kw))
        return net, cb

    (plain, cb_plain), (cached, cb_cached) = run(False), run(True)
    report = {
        "backend": keras.backend.backend(),
        "timeline": [list(t) for t in cb_plain.timeline],
        "timeline_cached": [list(t) for t in cb_cached.timeline],
        "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in
                               zip(plain.get_weights(), cached.get_weights(), strict=True)),
        "iterations": int(keras.ops.convert_to_numpy(cached.optimizer.iterations)),
    }
    Path(argv[0]).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
