"""Samples of a dataset and the fastai DataLoaders built from them.

`split_items` samples a table of items (datasets.py) -- so many images per class, a
held-out validation set, a seed -- and `get_dls` builds fastai `DataLoaders` from it, every
image prepared by the course's one recipe (preprocess.py). Introduced in notebook 00.

Not about: where the images come from (datasets.py), models, training or evaluation.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fastai.data.block import CategoryBlock, DataBlock
from fastai.data.transforms import ColReader, ColSplitter
from fastai.torch_core import set_seed
from fastai.vision.augment import aug_transforms
from fastai.vision.data import ImageBlock

from .checks import BATCH, SEED, SIZE, checked, number, text, whole
from .datasets import load_items
from .preprocess import ImageReader
from .runtime import device


N_PER_CLASS = whole(1, optional=True, hint="training images per class; None takes them all")
VALID_PCT = number(0, 1, low_open=True, high_open=True, hint="the share of each class held out")
VALID_PER_CLASS = whole(1, optional=True, hint="validation images per class; None uses valid_pct")


@checked(n_per_class=N_PER_CLASS, valid_pct=VALID_PCT, valid_per_class=VALID_PER_CLASS, seed=SEED)
def split_items(items: pd.DataFrame, n_per_class: int | None = None, valid_pct: float = 0.2,
                valid_per_class: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Stratified split: a validation set per class, then `n_per_class` training items.

    The validation set depends only on the seed and the validation size, never on
    `n_per_class`, and smaller training sets are subsets of larger ones: that is what
    makes a data-efficiency curve (notebook 00) a fair comparison.

    A table that has its own `is_valid` column (a folder in fastai's train/ + valid/ layout,
    `folders.py`) keeps it: its validation rows are the validation set, `valid_pct` and
    `valid_per_class` are not used, and `n_per_class` samples its training rows.
    """
    counts = items["label"].value_counts()
    if len(counts) < 2:
        raise ValueError(f"Classification needs at least two classes; found only {list(counts.index)}.")
    given = items["is_valid"].to_numpy(bool) if "is_valid" in items else None
    rng = np.random.default_rng(seed)
    rows = []
    for label in sorted(counts.index):
        index = rng.permutation(np.flatnonzero(items["label"].to_numpy() == label))
        if given is not None:
            index = np.concatenate([index[given[index]], index[~given[index]]])   # its validation rows first
            n_valid = int(given[index].sum())
        else:
            n_valid = valid_per_class if valid_per_class is not None else int(round(valid_pct * len(index)))
            n_valid = max(n_valid, 1)
        pool = index[n_valid:]
        if len(pool) == 0:
            raise ValueError(f"Class {label!r} has {len(index)} image(s): too few to hold out "
                             f"{n_valid} for validation and still train on one.")
        if n_per_class is not None and n_per_class > len(pool):
            raise ValueError(f"n_per_class={n_per_class}, but class {label!r} has only {len(pool)} "
                             f"training images after holding out {n_valid} for validation; "
                             f"use n_per_class <= {len(pool)}.")
        train = pool if n_per_class is None else pool[:n_per_class]
        rows += [(i, False) for i in train] + [(i, True) for i in index[:n_valid]]
    split = items.iloc[[i for i, _ in rows]].copy()  # positions, so any index works
    split["is_valid"] = [v for _, v in rows]
    return split.reset_index(drop=True)


def require_columns(items: pd.DataFrame, *columns: str) -> None:
    """Fail with one clear message when a table lacks a column the course needs; every
    function that takes a split (`split_items`'s table) checks it the same way."""
    missing = [column for column in columns if column not in items]
    if missing:
        hint = ": pass a table from tl.split_items" if "is_valid" in missing else ""
        raise ValueError(f"items lacks column(s) {missing} (it needs {', '.join(columns)}){hint}.")


def label_indices(items: pd.DataFrame, classes) -> list[int]:
    """Each row's label as its index in `classes`; labels outside `classes` are an error
    (a model trained on one domain or topic keeps its class order on another)."""
    classes = list(classes)
    unknown = set(items["label"]) - set(classes)
    if unknown:
        raise ValueError(f"Labels {sorted(unknown)} are not among the classes {classes}.")
    return [classes.index(label) for label in items["label"]]


def cell_augmentations() -> list:
    """Batch augmentations for greyscale solar-cell images (notebook 02).

    Flips and quarter turns (fastai's `Dihedral`: `flip_vert=True` draws one of the eight
    symmetries of the square): a mirrored or turned crack is still a crack.
    Small rotations and zooms: cells are cut out of module images slightly askew.
    Brightness and contrast: electroluminescence intensity differs between modules.
    No colour changes (the images are grey) and no perspective warp (cells are flat
    and photographed head-on).
    """
    return aug_transforms(do_flip=True, flip_vert=True, max_rotate=5.0, max_zoom=1.05,
                          max_lighting=0.2, max_warp=0.0)


@checked(size=SIZE, n_per_class=N_PER_CLASS, valid_pct=VALID_PCT, valid_per_class=VALID_PER_CLASS,
         seed=SEED, domain=text(optional=True), target=text(optional=True), bs=BATCH)
def get_dls(name, size: int = 64, n_per_class: int | None = None, valid_pct: float = 0.2,
            valid_per_class: int | None = None, seed: int = 0, domain: str | None = None,
            target: str | None = None, bs: int = 32, batch_tfms=None):
    """fastai DataLoaders for a named dataset or a folder (one sub-folder per class).

    Images are prepared by the course's one recipe (`preprocess.prepare`: RGB, centre
    square, bilinear resize to `size`), so every backbone sees three channels. `num_workers=0`: on two cores worker processes were slower,
    and they would make runs less reproducible. Introduced in notebook 00.
    """
    items = split_items(load_items(name, target, domain), n_per_class, valid_pct, valid_per_class, seed)
    return dls_from_items(items, size, seed, bs, batch_tfms)


@checked(size=SIZE, seed=SEED, bs=BATCH)
def dls_from_items(items: pd.DataFrame, size: int = 64, seed: int = 0, bs: int = 32, batch_tfms=None):
    """fastai DataLoaders for a table with `path`, `label` and `is_valid` columns (a split
    you made yourself, e.g. the published protocol in benchmarks/); see `get_dls`.

    Every image is prepared by the course's one recipe (`preprocess.prepare`: centre square,
    bilinear resize), read once and kept in memory (`preprocess.ImageReader`); training's
    randomness comes from `batch_tfms` and the shuffling, seeded by `seed`."""
    require_columns(items, "path", "label", "is_valid")
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_x=ImageReader(size),
                      get_y=ColReader("label"), splitter=ColSplitter("is_valid"), batch_tfms=batch_tfms)
    set_seed(seed, reproducible=True)  # fastai's DataLoader draws its shuffling seed when it is built
    dls = block.dataloaders(items, bs=bs, num_workers=0, device=device())
    dls.items, dls.size = items, size   # (the size: what `predict.save_model` records)
    return dls


@checked(bs=BATCH)
def feature_batches(embeddings: np.ndarray, items: pd.DataFrame | None = None, vocab=None,
                    bs: int = 64, shuffle: bool = False):
    """Batches of cached embeddings, labelled from `items` (one row per embedding, in order)
    or unlabelled when `items` is None: what `models.feature_learner`, domain accuracy, AdaBN,
    CORAL and DANN read when the body is frozen and its features are cached (notebook 04)."""
    import torch
    from fastai.data.load import DataLoader
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"Need a (images, features) array with at least one row, got shape {tuple(x.shape)}.")
    if items is None:
        dataset = [(row,) for row in x]
    else:
        if len(items) != len(x):
            raise ValueError(f"{len(x)} embeddings but {len(items)} items: they must match row for row.")
        vocab = sorted(items["label"].unique()) if vocab is None else vocab
        dataset = list(zip(x, torch.tensor(label_indices(items, vocab))))
    dl = DataLoader(dataset, bs=bs, shuffle=shuffle, drop_last=shuffle and len(dataset) >= bs)
    dl.vocab = list(vocab) if vocab is not None else None
    return dl
