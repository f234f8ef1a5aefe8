"""Frozen features: embeddings from any layer of a pretrained body, cached on disk, and probes.

Feature extraction is the cheapest kind of transfer: run the pretrained body once,
keep what a layer outputs (averaged over positions, one vector per image), and fit
a small classifier -- a *probe* -- on those vectors. Introduced in notebook 01.

Embeddings are cached (cache.py) in `<cache>/features/` as `.npy` files whose name says
the dataset, backbone, layer and image size, plus a key made of what went in (the image
files' contents, the weights, the precision of the forward pass, the preprocessing). A
second call with the same inputs reads the file and runs no forward pass.

Not about: training a head with fastai (training.py) or drawing (plots.py).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import cache, preprocess
from .backbones import BACKBONE_NAME
from .checks import BATCH, SEED, SIZE, TITLE, Rule, checked, choice, text, whole
from .data import require_columns
from .models import get_backbone, whole_network
from .runtime import SHOW_PROGRESS, Timer, autocast, device, dtype_for


@checked(backbone=BACKBONE_NAME)
def layer_names(backbone: str = "efficientnet_lite0") -> list[str]:
    """The named stages of a backbone's body, input side first (the depths a probe can read)."""
    spec = get_backbone(backbone)
    return [name for name, _ in spec.cut(whole_network(backbone, pretrained=False)).named_children()]


@checked(backbone=BACKBONE_NAME)
def load_body(backbone: str = "efficientnet_lite0", pretrained: bool = True) -> nn.Module:
    """The backbone's body, frozen and in inference mode, on the course's device."""
    spec = get_backbone(backbone)
    body = spec.cut(whole_network(backbone, pretrained)).eval()
    for p in body.parameters():
        p.requires_grad_(False)
    return spec.prepare(body)


def _key(paths, backbone: str, size: int) -> str:
    # The precision is part of the key: a float32 run never reads bfloat16 features.
    return cache.key(backbone, get_backbone(backbone).weights, size, str(dtype_for("inference")),
                     preprocess.VERSION, files=paths)


def _cache_file(name: str, backbone: str, layer: str, size: int, key: str) -> Path:
    return cache.path("features", f"{name}-{backbone}-{layer}-{size}px-{key}.npy")


def forward_features(body: nn.Module, paths, layers, size: int, stats, bs: int = 64) -> dict:
    """One pass over the images, keeping each named layer's output averaged over positions.

    Hooks on the body's named children collect the layers; the pass stops after the
    deepest one requested. It runs at the precision policy's "inference" precision
    (`runtime.autocast`); the averages are kept in float32.
    """
    children = dict(body.named_children())
    unknown = [layer for layer in layers if layer not in children]
    if unknown:
        raise ValueError(f"Unknown layer(s) {unknown}; this body has {list(children)}.")
    order = list(children)
    last = max(order.index(layer) for layer in layers)
    chunks = {layer: [] for layer in layers}
    steps = range(0, len(paths), bs)
    if SHOW_PROGRESS:
        from fastprogress.fastprogress import progress_bar
        steps = progress_bar(steps)
    with torch.inference_mode(), autocast("inference"):
        for start in steps:
            x = preprocess.to_tensor([preprocess.read(p, size) for p in paths[start:start + bs]], stats).to(device())
            for name in order[:last + 1]:
                x = children[name](x)
                if name in chunks:
                    chunks[name].append(x.float().mean(dim=(2, 3)).cpu().numpy())
    return {layer: np.concatenate(chunks[layer]) for layer in layers}


@checked(name=text(), backbone=BACKBONE_NAME, size=SIZE, bs=BATCH)
def extract_features(items: pd.DataFrame, name: str, backbone: str = "efficientnet_lite0",
                     layers=("head_conv",), size: int = 128, bs: int = 64) -> dict[str, np.ndarray]:
    """Embeddings of every item (one row per item, in order) from each layer, cached on disk.

    `items` is a table with a `path` column (from `load_items` or `split_items`);
    `name` names the dataset in the cache file. Layers already cached are read, the
    others come from one forward pass. Introduced in notebook 01.
    """
    if isinstance(layers, str):
        layers = (layers,)
    if "path" not in items:
        raise ValueError("items needs a 'path' column: pass a table from tl.load_items or tl.split_items.")
    if len(items) == 0:
        raise ValueError("items is empty: there are no images to extract features from.")
    paths = list(items["path"])
    key = _key(paths, backbone, size)
    found = {layer: cache.load_array(_cache_file(name, backbone, layer, size, key)) for layer in layers}
    missing = [layer for layer, array in found.items() if array is None]
    if missing:
        computed = forward_features(load_body(backbone), paths, missing, size, get_backbone(backbone).stats, bs)
        for layer, array in computed.items():
            cache.save_array(_cache_file(name, backbone, layer, size, key), array)
            found[layer] = array
    return found


@checked(backbone=BACKBONE_NAME, layer=text(), size=SIZE, bs=BATCH)
def extraction_throughput(items: pd.DataFrame, backbone: str = "efficientnet_lite0", layer: str = "head_conv",
                          size: int = 128, bs: int = 64) -> float:
    """Images per second of an uncached extraction (reading, resizing and the forward pass)."""
    body = load_body(backbone)
    paths = list(items["path"])
    with Timer() as t:
        forward_features(body, paths, [layer], size, get_backbone(backbone).stats, bs)
    return len(paths) / t.seconds


# --------------------------------------------------------------------------- probes

def train_valid(features: np.ndarray, items: pd.DataFrame):
    """The training rows' features and labels, then the validation rows': what a probe fits and scores."""
    require_columns(items, "label", "is_valid")
    if len(features) != len(items):
        raise ValueError(f"{len(features)} feature rows for {len(items)} items: extract features from these items.")
    valid = items["is_valid"].to_numpy(bool)
    labels = items["label"].to_numpy()
    return features[~valid], labels[~valid], features[valid], labels[valid]


@checked(method=TITLE)
def fit_probe(estimator, features: np.ndarray, items: pd.DataFrame, method: str) -> dict:
    """Fit any scikit-learn classifier on the training rows; a result row like training's."""
    x_train, y_train, x_valid, y_valid = train_valid(features, items)
    start = time.perf_counter()
    estimator.fit(x_train, y_train)
    predictions = estimator.predict(x_valid)
    return {"method": method, "accuracy": float(np.mean(predictions == y_valid)),
            "seconds": time.perf_counter() - start, "estimator": estimator, "predictions": predictions}


# The regularisation strengths a cross-validated probe chooses from: 10^-4 to 10^2. With a few
# hundred training rows and up to 1,280 features, the best C moves over orders of magnitude from
# layer to layer, so one fixed C favours some layers over others (notebook 01).
PROBE_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


# C: the inverse regularisation strength (smaller: stronger), or "cv" to choose it by cross-validation
C_RULE = Rule("number", 0, low_open=True, words=("cv",), hint="smaller regularises more")


@checked(C=C_RULE, folds=whole(2, hint="cross-validation folds"))
def probe_estimator(C: float | str = 1.0, folds: int = 5):
    """The linear probe's scikit-learn pipeline, unfitted: standardise, then logistic regression
    (e.g. for `cross_val_score`; notebook 01).

    With `C="cv"` it chooses C from `PROBE_CS` by stratified `folds`-fold cross-validation on the
    rows it is fitted on (scikit-learn's `GridSearchCV`, which refits the best on all of them), so
    a probe fitted on the training rows never looks at the validation rows to choose."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if C == "cv":
        return choose_c(probe_estimator(1.0), folds)
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


@checked(folds=whole(2, hint="cross-validation folds"))
def choose_c(pipeline, folds: int = 5):
    """Any scikit-learn pipeline ending in a `LogisticRegression`, with its C chosen from
    `PROBE_CS` by stratified cross-validation on the rows it is fitted on (notebook 01's probe; notebook
    05's "What to try next" tunes its TF-IDF baseline with it, so both sides of a comparison are tuned alike)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    if list(getattr(pipeline, "named_steps", {}))[-1:] != ["logisticregression"]:
        raise ValueError("choose_c needs a pipeline ending in a LogisticRegression (sklearn's make_pipeline(..., LogisticRegression())).")
    return GridSearchCV(pipeline, {"logisticregression__C": list(PROBE_CS)}, cv=StratifiedKFold(folds))


def chosen_c(estimator) -> float:
    """The C a fitted probe (or `choose_c` pipeline) used: the one cross-validation chose, or the one it was given."""
    if hasattr(estimator, "best_params_"):
        return float(estimator.best_params_["logisticregression__C"])
    return float(estimator.get_params()["logisticregression__C"])


@checked(C=C_RULE, method=TITLE)
def linear_probe(features: np.ndarray, items: pd.DataFrame, C: float | str = 1.0,
                 method: str = "linear probe") -> dict:
    """Logistic regression on standardised features (notebook 01). `C="cv"` chooses the
    regularisation by cross-validation on the training rows; the result's "C" says which."""
    result = fit_probe(probe_estimator(C), features, items, method)
    return {**result, "C": chosen_c(result["estimator"])}


@checked(k=whole(1, hint="neighbours"), method=TITLE)
def knn_probe(features: np.ndarray, items: pd.DataFrame, k: int = 5, method: str = "k-NN probe") -> dict:
    """k nearest neighbours by cosine distance (notebook 01): no training at all."""
    from sklearn.neighbors import KNeighborsClassifier
    return fit_probe(KNeighborsClassifier(n_neighbors=k, metric="cosine"), features, items, method)


@checked(C=C_RULE)
def layer_curve(features_by_layer: dict, items: pd.DataFrame, C: float | str = "cv") -> pd.DataFrame:
    """A linear probe on each layer's features: the table behind notebook 01's layer curve.
    By default each layer's probe chooses its own C by cross-validation on the training rows
    (column "C"): layers differ in width and in how much they need regularising."""
    rows = []
    for depth, (layer, features) in enumerate(features_by_layer.items(), 1):
        result = linear_probe(features, items, C=C)
        rows.append({"depth": depth, "layer": layer, "features": features.shape[1],
                     "C": result["C"], "accuracy": result["accuracy"]})
    return pd.DataFrame(rows)


@checked(method=choice(("pca", "tsne")), seed=SEED)
def project_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Two coordinates per image for a scatter plot: PCA (linear) or t-SNE (neighbourhoods)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler
    x = StandardScaler().fit_transform(features)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    reduced = PCA(n_components=min(50, x.shape[1]), random_state=seed).fit_transform(x)
    return TSNE(n_components=2, init="pca", perplexity=min(30, len(x) // 4), random_state=seed).fit_transform(reduced)
