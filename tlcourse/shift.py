"""Domain shift: shifted versions of a dataset, and how far apart two domains are.

A model trained on one domain (the *source*) is tested on another (the *target*): solar
cells of another crystal type, digits from another collection, images corrupted as in
ImageNet-C (`corrupt_items`, `severity_table`). How far apart the domains are, as the
model sees them: `domain_features` and `domain_separability`. The ways to adapt a model
are in adapt.py, and `adaptation_runs` runs them side by side on one seed's split; accuracy
per domain is in evaluate.py. Introduced in notebook 04.

Not about: training schedules (training.py) or plots (plots.py).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image

from . import cache, preprocess
from .adapt import CORAL, DANN, adabn
from .checks import SEED, checked, choice, number, whole
from .datasets import image_folder
from .evaluate import adaptation_row, domain_accuracy, domain_batches
from .features import linear_probe
from .models import classifier_of
from .runtime import Timer

# Measured at 32x32 on two CPU cores, severity 3: every corruption takes 0.1-5 ms per image
# except glass_blur (about 140 ms). One of each family: noise, blur, weather, digital.
# `corrupt_items` accepts any name the `imagecorruptions` package knows.
FAST_CORRUPTIONS = ("gaussian_noise", "impulse_noise", "defocus_blur", "motion_blur", "fog",
                    "contrast", "pixelate", "jpeg_compression")


# --------------------------------------------------------------------------- shifted data
def _corruptions():
    from imagecorruptions import get_corruption_names
    return get_corruption_names("all")


CORRUPTION = choice(_corruptions, hint="a corruption of ImageNet-C")
SEVERITY = whole(1, 5, hint="ImageNet-C's severity")


@checked(corruption=CORRUPTION, severity=SEVERITY)
def corrupt_image(image: np.ndarray, corruption: str, severity: int) -> np.ndarray:
    """One image corrupted as in ImageNet-C (Hendrycks & Dietterich 2019), same shape and dtype.

    `image` is uint8, height x width (x 3), at least 32 pixels each way. Severity 1 to 5.
    """
    from imagecorruptions import corrupt
    if image.dtype != np.uint8 or min(image.shape[:2]) < 32:
        raise ValueError(f"Need a uint8 image of at least 32x32 pixels, got {image.dtype} {image.shape}.")
    grey = image.ndim == 2
    corrupted = corrupt(np.stack([image] * 3, -1) if grey else image, corruption_name=corruption,
                        severity=severity)
    # Some corruptions return floats or a different size (pixelate, jpeg): back to the input's form.
    corrupted = np.asarray(Image.fromarray(np.uint8(np.clip(corrupted, 0, 255))).resize(image.shape[1::-1]))
    return corrupted.mean(-1).astype(np.uint8) if grey else corrupted


@checked(corruption=CORRUPTION, severity=SEVERITY, size=whole(32, hint="ImageNet-C needs 32 pixels"), seed=SEED)
def corrupt_items(items: pd.DataFrame, corruption: str, severity: int, size: int = 32,
                  seed: int = 0) -> pd.DataFrame:
    """A corrupted copy of every image in `items` (resized to `size` first), cached on disk.

    The copies are written once, as PNG files, to the course's cache, under a key made of
    the corruption, severity, size, seed and the images' contents; a second call reads them.
    Images are prepared first by the course's one recipe (`preprocess.prepare`).
    Returns the same table with `path` pointing at the copies.
    """
    key = cache.key(corruption, severity, size, seed, preprocess.VERSION, files=items["path"])

    def images():
        rng_state = np.random.get_state()
        np.random.seed(seed)  # the package draws its noise from numpy's global generator
        try:
            for path in items["path"]:
                yield corrupt_image(np.asarray(preprocess.read(path, size)), corruption, severity)
        finally:
            np.random.set_state(rng_state)

    corrupted = image_folder(f"corrupted-{corruption}-{severity}-{size}px-seed{seed}", key, images(), items["label"])
    return items.assign(path=corrupted["path"].to_numpy())


# --------------------------------------------------------------------------- measuring

def domain_features(learn, domains: dict) -> tuple[np.ndarray, np.ndarray]:
    """The features CORAL and DANN align (the input of the model's classifier, its head's last
    Linear layer) for
    every image of several domains, and each row's domain name: what a feature scatter and
    `domain_separability` read. `domains` as for `domain_accuracy`."""
    layer = classifier_of(learn.model)
    chunks, names = [], []
    # float(): under bfloat16 autocast the layer's input is bfloat16, which numpy cannot hold
    hook = layer.register_forward_hook(lambda module, inputs, output: chunks.append(inputs[0].detach().float().cpu()))
    try:
        for name, items in domains.items():
            dl = domain_batches(learn, name, items)
            before = len(chunks)
            with learn.no_bar():
                learn.get_preds(dl=dl)
            names += [name] * sum(len(c) for c in chunks[before:])
    finally:
        hook.remove()
    return torch.cat(chunks).numpy(), np.array(names)


@checked(seed=SEED)
def domain_separability(features: np.ndarray, domains: np.ndarray, seed: int = 0) -> float:
    """How well a linear classifier tells the domains apart from these features: accuracy on
    a held-out half (0.5 for two balanced domains that look alike, 1.0 for ones that never
    overlap). The idea behind Ben-David et al.'s proxy A-distance; DANN's domain classifier
    is the same question asked during training. Introduced in notebook 04."""
    from sklearn.model_selection import train_test_split
    if len(set(domains)) < 2:
        raise ValueError("Need features from at least two domains.")
    # The same probe as notebook 01's, with the domain as the label and a stratified half held out.
    _, held_out = train_test_split(np.arange(len(domains)), test_size=0.5, random_state=seed, stratify=domains)
    table = pd.DataFrame({"label": domains, "is_valid": np.isin(np.arange(len(domains)), held_out)})
    return linear_probe(features, table, method="domain probe")["accuracy"]


@checked(bs=whole(1, optional=True, hint="None: the source's batch size"))
def target_batches(dls, items: pd.DataFrame, bs: int | None = None):
    """Unlabelled batches of target images, shuffled, preprocessed like the source's validation
    images (same size, same normalisation, no augmentation): what AdaBN, CORAL and DANN read.
    Labels in `items` are ignored."""
    bs = bs or dls.bs
    return dls.test_dl(items, with_labels=False, shuffle=True, drop_last=len(items) >= bs, bs=bs)


@checked(size=whole(32, hint="ImageNet-C needs 32 pixels"), seed=SEED)
def severity_table(learn, items: pd.DataFrame, corruptions=FAST_CORRUPTIONS, severities=(1, 2, 3, 4, 5),
                   size: int = 32, seed: int = 0, adapt: bool = False) -> pd.DataFrame:
    """Accuracy on corrupted copies of `items`, one row per corruption and severity, with
    severity 0 the clean images: the table behind an ImageNet-C style severity curve.

    With `adapt=True` each set is scored twice: as the model stands ("source only") and with
    AdaBN's statistics measured on that set's own (unlabelled) images ("AdaBN"), the
    test-time adaptation of Schneider et al. 2020.
    """
    def score(shifted):
        accuracies = {"source only": float(domain_accuracy(learn, {"set": shifted})["accuracy"].iloc[0])}
        if adapt:
            with adabn(learn, target_batches(learn.dls, shifted)):
                accuracies["AdaBN"] = float(domain_accuracy(learn, {"set": shifted})["accuracy"].iloc[0])
        return accuracies

    rows = []
    clean = score(items)
    for corruption in corruptions:
        rows += [{"corruption": corruption, "severity": 0, "method": m, "accuracy": a} for m, a in clean.items()]
        for severity in severities:
            shifted = corrupt_items(items, corruption, severity, size=size, seed=seed)
            rows += [{"corruption": corruption, "severity": severity, "method": m, "accuracy": a}
                     for m, a in score(shifted).items()]
    table = pd.DataFrame(rows)
    table["method"] = pd.Categorical(table["method"], ["source only", "AdaBN"])  # the baseline first
    table = table.sort_values(["method", "corruption", "severity"], kind="stable").reset_index(drop=True)
    table["method"] = table["method"].astype(str)
    return table


# --------------------------------------------------------------------------- comparing the methods

@checked(seed=SEED, coral_weight=number(0), dann_weight=number(0))
def adaptation_runs(seed: int, domains: dict, unlabelled, source_learner, train, few_shot, train_few_shot,
                    ceiling, coral_weight: float, dann_weight: float, shots=(1, 5, 10), base=None,
                    target_only=None, train_target_only=None):
    """Every adaptation method of notebook 04 on one seed's split, each scored on the same
    held-out images: one result row per method (`evaluate.adaptation_row`) and the learners.

    The notebook says what a learner is and how it trains; this runs the methods in one order:
    - "source only": `source_learner()`, a new learner on the labelled source, trained by
      `train(learn)` (or `base`, one trained already; its time is then unknown, NaN);
    - "AdaBN": that model, with BatchNorm statistics measured on `unlabelled()` target batches;
    - "CORAL" and "DANN": new source learners trained with the alignment callback
      (strengths `coral_weight`, `dann_weight`) reading `unlabelled()` target batches;
    - "few-shot, k=...": `few_shot(base, k)` (k labelled target images per class), trained by
      `train_few_shot(learn)`;
    - "target only, k=...": with `target_only`, `target_only(k)` for the largest k of `shots`, a
      learner that never saw the source, on the same k labelled target images per class as
      few-shot, trained by `train_target_only(learn)`: what the labels give without transfer;
    - "target-trained (ceiling)": `ceiling()`, a new learner on labelled target images, trained
      by `train`.
    `domains` is {"source": ..., "target": ...}, held-out items or labelled batches.
    """
    rows, learners = [], {}

    def add(method, learn, seconds):
        rows.append(adaptation_row(learn, method, seed, domains, seconds))
        learners[method] = learn

    if base is None:
        base = source_learner()
        add("source only", base, train(base)["seconds"])
    else:
        add("source only", base, float("nan"))
    with Timer() as t, adabn(base, unlabelled()):
        rows.append(adaptation_row(base, "AdaBN", seed, {"target": domains["target"]}, 0.0))
    # AdaBN keeps both sets of statistics: the source's for source images (outside the with block)
    rows[-1].update(seconds=t.seconds, **{"source accuracy": rows[0]["source accuracy"]})
    for method, callback in [("CORAL", CORAL(unlabelled(), coral_weight)),
                             ("DANN", DANN(unlabelled(), dann_weight))]:
        learn = source_learner()
        learn.add_cb(callback)
        add(method, learn, train(learn)["seconds"])
    for k in shots:
        learn = few_shot(base, k)
        add(f"few-shot, k={k}", learn, train_few_shot(learn)["seconds"])
    if target_only is not None:
        k = max(shots)
        learn = target_only(k)
        add(f"target only, k={k}", learn, (train_target_only or train_few_shot)(learn)["seconds"])
    learn = ceiling()
    add("target-trained (ceiling)", learn, train(learn)["seconds"])
    return rows, learners
