"""Frozen-prefix caching (docs/caching.md): exact, or refused with the reason named.

A cached run and an uncached ``model.fit`` run of the same real functional model (a
small CNN with BatchNorm and a residual block, so that one stage's cut is two tensors)
must have the same stage timeline and the same final weights; the refusals name the
layer or the reason before anything changes on the model.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from unfreeze_core import (
    Discriminative,
    FixedEpoch,
    FreezeOut,
    GradNorm,
    ProgressiveUnfreezing,
    Schedule,
)
from unfreeze_core.errors import DriverError
from unfreeze_core.keras import Cache, fit
from unfreeze_core.keras.cache_graph import find_cut
from unfreeze_core.keras.cache_store import estimate

from .helpers import data, mlp

pytestmark = pytest.mark.keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 8, 8, 3)).astype("float32")
Y = RNG.integers(0, 3, 64)
VX = RNG.normal(size=(16, 8, 8, 3)).astype("float32")
VY = RNG.integers(0, 3, 16)


def cnn(extra: Any = None) -> Any:
    """stem (conv, BN, relu), a residual block, pooling, fc, head; ``extra`` is put
    after the stem's BatchNorm."""
    inp = keras.Input((8, 8, 3), name="img")
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    x = keras.layers.BatchNormalization(name="bn0")(x)
    if extra is not None:
        x = extra(x)
    x = keras.layers.Activation("relu", name="relu0")(x)
    r = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="b1_conv1")(x)
    r = keras.layers.Conv2D(8, 3, padding="same", name="b1_conv2")(r)
    x = keras.layers.Add(name="b1_add")([x, r])
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc")(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="head")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def driver(cache: bool | Cache = False, **kw: Any) -> ProgressiveUnfreezing:
    schedule = Schedule(FixedEpoch(every=1), groups="per_layer", **kw)
    return ProgressiveUnfreezing(schedule, verbose=1, cache=cache)


def _run(cache: bool | Cache) -> tuple[Any, Any, ProgressiveUnfreezing]:
    keras.utils.set_random_seed(1)
    model, cb = cnn(), driver(cache)
    kw: dict[str, Any] = dict(batch_size=16, epochs=4, verbose=0, callbacks=[cb],
                              validation_data=(VX, VY), shuffle=False)
    h = fit(model, X, Y, **kw) if cache else model.fit(X, Y, **kw)
    return model, h.history, cb


@pytest.fixture(scope="module")
def uncached() -> tuple[Any, Any, ProgressiveUnfreezing]:
    return _run(False)


@pytest.mark.parametrize("budget", [None, 0], ids=["memory", "disk"])
def test_cached_run_equals_model_fit(uncached: Any, budget: int | None, tmp_path: Any,
                                     capsys: Any) -> None:
    ref_model, ref_h, ref_cb = uncached
    model, h, cb = _run(Cache(budget=budget, dir=str(tmp_path)))
    out = capsys.readouterr().out
    assert cb.timeline == ref_cb.timeline == [(0, 1), (1, 2), (2, 3), (3, 4)]
    for a, b in zip(model.get_weights(), ref_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert set(h) == set(ref_h)
    for key in ref_h:
        np.testing.assert_allclose(h[key], ref_h[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert int(model.optimizer.iterations.numpy()) == 16
    # stage 1 caches fc's input (16 floats per example, training and validation rows):
    # the printed size is the formula's
    assert estimate([((16,), "float32")], 64 + 16) == 5120
    assert "frozen prefix cached at 'fc': 5.0 KiB for 64 + 16 examples" in out
    # stage 3: two tensors cross the cut (the residual block's input and its branch)
    assert "cached at 'b1_conv1', 'relu0'" in out
    where = "memory-mapped in" if budget == 0 else "in memory"
    assert out.count(where) == 4  # every stage caches (stage 4: relu0, kept from stage 3)
    assert "cached at 'relu0'" in out and "1 of 1 tensors kept" in out
    assert list(tmp_path.iterdir()) == []  # the spill folder is gone after fit


def _train(model: Any, x: Any, y: Any, cb: ProgressiveUnfreezing, cache: bool,
           epochs: int) -> None:
    """Batches of 8 in order: the cached loop (``fit``) or plain ``model.fit``."""
    kw: dict[str, Any] = dict(batch_size=8, epochs=epochs, verbose=0, callbacks=[cb],
                              shuffle=False)
    if cache:
        fit(model, x, y, **kw)
    else:
        model.fit(x, y, **kw)


def _assert_same_weights(a: Any, b: Any) -> None:
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_mid_epoch_stage_changes_are_exact() -> None:
    """GradNorm decides every 2 steps; the helper finishes the epoch on the new cut, with
    the per-group rates of a Discriminative rule."""
    x, y = data(48)

    def run(cache: bool) -> tuple[Any, list[Any]]:
        keras.utils.set_random_seed(3)
        model = mlp(widths=(8, 8))
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        policy = GradNorm(threshold=1e9, window=1, check_every=2)  # advances at each read
        # per-group rates: the optimizer's patched update_step, also above the cut
        cb = ProgressiveUnfreezing(Schedule(policy, rules=[Discriminative(factor=2.0)]),
                                   cache=cache)
        _train(model, x, y, cb, cache, epochs=2)
        return model, cb.timeline

    (m1, t1), (m2, t2) = run(False), run(True)
    assert t1 == t2 == [(0, 3), (1, 3)]  # stages 2 and 3 began mid-epoch 1
    _assert_same_weights(m1, m2)


def test_refrozen_groups_move_the_cut_up_exactly() -> None:
    """FreezeOut freezes groups again from the input side: each higher cut is computed
    from the stored one."""
    x, y = data(48)

    def run(cache: bool) -> tuple[Any, list[Any]]:
        keras.utils.set_random_seed(4)
        model = mlp(widths=(8, 8))
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        policy = FreezeOut(total_steps=24, t0=0.25, spacing="linear")  # l0 at 6, l1 at 15
        cb = ProgressiveUnfreezing(Schedule(policy), cache=cache)
        _train(model, x, y, cb, cache, epochs=4)
        return model, cb.timeline

    (m1, t1), (m2, t2) = run(False), run(True)
    assert t1 == t2 and len({s for _, s in t1}) >= 3, t1
    _assert_same_weights(m1, m2)


def _refused(model: Any, cb: ProgressiveUnfreezing, match: str, x: Any = X) -> None:
    flags = [(la.name, la.trainable) for la in model.layers]
    with pytest.raises(DriverError, match=match):
        fit(model, x, Y, epochs=1, verbose=0, callbacks=[cb])
    assert [(la.name, la.trainable) for la in model.layers] == flags  # nothing half-applied


def test_refuses_dropout_inside_the_prefix() -> None:
    model = cnn(keras.layers.Dropout(0.2, name="drop"))
    _refused(model, driver(True), r"Dropout layer 'drop' is random in training.*'b1_conv1'")


def test_refuses_a_random_augmentation_layer() -> None:
    model = cnn(keras.layers.RandomFlip(name="flip"))
    _refused(model, driver(True), r"RandomFlip layer 'flip' is random.*drop cache=True")


def test_refuses_batchnorm_in_training_mode() -> None:
    _refused(cnn(), driver(True, batchnorm="train"),
             r"BatchNormalization layer 'bn0' is in training mode.*batchnorm='train'")


def test_a_dropout_just_below_the_head_only_moves_the_cut() -> None:
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, name="l0", trainable=False)(inp)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(h))
    cut = find_cut(model, "frozen")
    assert (cut.names, cut.blocked) == (("l0",), None)


def test_refuses_a_dataset() -> None:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(16)
    _refused(cnn(), driver(True), r"x is a .*Dataset.*pass NumPy arrays", x=ds)


def test_refuses_a_subclassed_model() -> None:
    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="net")
            self.a = keras.layers.Dense(4)
            self.b = keras.layers.Dense(3)

        def call(self, x: Any) -> Any:
            return self.b(self.a(keras.ops.reshape(x, (-1, 192))))

    model = Net()
    model(X[:1])
    model.compile(optimizer="adam", loss="mse")
    _refused(model, driver(True), r"'net' \(Net\) is a subclassed model.*functional API")


def test_plain_model_fit_says_what_to_call() -> None:
    model = cnn()
    with pytest.raises(DriverError, match=r"model\.fit cannot hand.*unfreeze_core\.keras\.fit"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[driver(True)])
    assert all(la.trainable for la in model.layers)


def test_a_nested_backbone_is_cut_at_its_boundary() -> None:
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, name="b0")(inp)
    backbone = keras.Model(inp, keras.layers.Dense(8, name="b1")(h), name="backbone")
    outer_in = keras.Input((6,))
    model = keras.Model(outer_in, keras.layers.Dense(1, name="head")(backbone(outer_in)))
    backbone.trainable = False
    assert find_cut(model, "frozen").names == ("backbone",)  # cached as a whole
    backbone.trainable = True
    backbone.get_layer("b0").trainable = False
    cut = find_cut(model, "frozen")  # its top trains: the cut is at its input
    assert cut.trivial and cut.blocked is None


def test_the_caching_guide_runs_and_prints_what_it_says() -> None:
    from ..docs.snippets import run_page

    ran, compared = run_page("docs/caching.md")
    assert (ran, compared) == (1, 1)


def test_a_keras_mask_crosses_the_cut_as_a_tensor() -> None:
    tokens = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True, name="emb", trainable=False)(tokens)
    h = keras.layers.Dense(4, name="proj")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(tokens, keras.layers.Dense(1, name="head")(h))
    cut = find_cut(model, "frozen")
    assert cut.names[0] == "emb" and "not_equal" in cut.names[1] and cut.blocked is None


def test_open_dimensions_are_read_from_the_prefix() -> None:
    inp = keras.Input((None, 4))
    h = keras.layers.Dense(3, name="l0")(inp)
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(
        keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(3, name="l1")(h))))
    model.compile(optimizer="sgd", loss="mse")
    x, y = RNG.normal(size=(16, 7, 4)).astype("float32"), RNG.normal(size=(16, 1))
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1), initial=2), cache=True)
    fit(model, x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    assert len(cb.timeline) == 1  # cached l0's (None, None, 3) output: 7 steps
