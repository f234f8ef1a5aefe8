"""Frozen features: embeddings from any layer of a pretrained body, cached on disk, and probes.

Feature extraction is the cheapest kind of transfer: run the pretrained body once,
keep what a layer outputs (averaged over positions, one vector per image), and fit
a small classifier -- a *probe* -- on those vectors. Introduced in notebook 01.

Embeddings are cached in `<cache>/features/` as `.npy` files whose name says the
dataset, backbone, layer and image size, plus a hash of what went in (the image
files, their sizes and dates, the weights, the precision of the forward pass). A second call with the same inputs reads
the file and runs no forward pass. Files are written whole and then renamed, and a
file that cannot be read back is computed again.

Not about: training a head with fastai (training.py) or drawing (plots.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from .data import require_columns
from .models import _build, get_backbone
from .runtime import CACHE, SHOW_PROGRESS, Timer, autocast, device, dtype_for


def layer_names(backbone: str = "efficientnet_lite0") -> list[str]:
    """The named stages of a backbone's body, input side first (the depths a probe can read)."""
    spec = get_backbone(backbone)
    return [name for name, _ in spec.cut(_build(backbone, pretrained=False)).named_children()]


def load_body(backbone: str = "efficientnet_lite0", pretrained: bool = True) -> nn.Module:
    """The backbone's body, frozen and in inference mode, on the course's device."""
    spec = get_backbone(backbone)
    body = spec.cut(_build(backbone, pretrained)).eval()
    for p in body.parameters():
        p.requires_grad_(False)
    return spec.prepare(body)


def _load_batch(paths, size: int, stats) -> torch.Tensor:
    # Same preprocessing as get_dls for the validation set of square images: RGB,
    # bilinear resize to size x size, scale to [0, 1], normalise with the weights' stats.
    images = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)) for p in paths]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in stats)
    return (x - mean) / std


def _fingerprint(paths, backbone: str, size: int) -> str:
    spec = get_backbone(backbone)
    # The precision is part of the key: a float32 run never reads bfloat16 features.
    precision = str(dtype_for("inference"))
    digest = hashlib.sha256(json.dumps([backbone, spec.weights, size, precision]).encode())
    for p in paths:
        stat = os.stat(p)
        digest.update(f"{p}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


def _cache_path(name: str, backbone: str, layer: str, size: int, key: str) -> Path:
    return CACHE / "features" / f"{name}-{backbone}-{layer}-{size}px-{key}.npy"


def _read(path: Path):
    if not path.exists():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:  # a half-written or damaged file
        warnings.warn(f"Cached features {path.name} are unreadable ({err}); computing them again.")
        return None


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npy")
    np.save(tmp, array)
    os.replace(tmp, path)  # atomic: readers see the whole file or none


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
            x = _load_batch(paths[start:start + bs], size, stats).to(device())
            for name in order[:last + 1]:
                x = children[name](x)
                if name in chunks:
                    chunks[name].append(x.float().mean(dim=(2, 3)).cpu().numpy())
    return {layer: np.concatenate(chunks[layer]) for layer in layers}


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
    if size < 8:
        raise ValueError(f"size={size} is too small; use at least 8 pixels.")
    paths = list(items["path"])
    key = _fingerprint(paths, backbone, size)
    found = {layer: _read(_cache_path(name, backbone, layer, size, key)) for layer in layers}
    missing = [layer for layer, array in found.items() if array is None]
    if missing:
        # Building the body draws from torch's random generator (its layers are initialised before
        # the weights are loaded); fork it, so that what follows (a new head, say) gets the same
        # random numbers whether the features came from the cache or not.
        with torch.random.fork_rng(devices=[]):
            computed = forward_features(load_body(backbone), paths, missing, size, get_backbone(backbone).stats, bs)
        for layer, array in computed.items():
            _write(_cache_path(name, backbone, layer, size, key), array)
            found[layer] = array
    return found


def extraction_throughput(items: pd.DataFrame, backbone: str = "efficientnet_lite0", layer: str = "head_conv",
                          size: int = 128, bs: int = 64) -> float:
    """Images per second of an uncached extraction (reading, resizing and the forward pass)."""
    body = load_body(backbone)
    paths = list(items["path"])
    with Timer() as t:
        forward_features(body, paths, [layer], size, get_backbone(backbone).stats, bs)
    return len(paths) / t.seconds


# --------------------------------------------------------------------------- probes

def _split(features: np.ndarray, items: pd.DataFrame):
    require_columns(items, "label", "is_valid")
    if len(features) != len(items):
        raise ValueError(f"{len(features)} feature rows for {len(items)} items: extract features from these items.")
    valid = items["is_valid"].to_numpy(bool)
    labels = items["label"].to_numpy()
    return features[~valid], labels[~valid], features[valid], labels[valid]


def fit_probe(estimator, features: np.ndarray, items: pd.DataFrame, method: str) -> dict:
    """Fit any scikit-learn classifier on the training rows; a result row like training's."""
    x_train, y_train, x_valid, y_valid = _split(features, items)
    start = time.perf_counter()
    estimator.fit(x_train, y_train)
    predictions = estimator.predict(x_valid)
    return {"method": method, "accuracy": float(np.mean(predictions == y_valid)),
            "seconds": time.perf_counter() - start, "estimator": estimator, "predictions": predictions}


def probe_estimator(C: float = 1.0):
    """The linear probe's scikit-learn pipeline, unfitted: standardise, then logistic
    regression (e.g. for `cross_val_score`, notebook 01's exercise 1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))


def linear_probe(features: np.ndarray, items: pd.DataFrame, C: float = 1.0, method: str = "linear probe") -> dict:
    """Logistic regression on standardised features (notebook 01)."""
    return fit_probe(probe_estimator(C), features, items, method)


def knn_probe(features: np.ndarray, items: pd.DataFrame, k: int = 5, method: str = "k-NN probe") -> dict:
    """k nearest neighbours by cosine distance (notebook 01): no training at all."""
    from sklearn.neighbors import KNeighborsClassifier
    return fit_probe(KNeighborsClassifier(n_neighbors=k, metric="cosine"), features, items, method)


def layer_curve(features_by_layer: dict, items: pd.DataFrame, C: float = 1.0) -> pd.DataFrame:
    """A linear probe on each layer's features: the table behind notebook 01's layer curve."""
    rows = []
    for depth, (layer, features) in enumerate(features_by_layer.items(), 1):
        result = linear_probe(features, items, C=C)
        rows.append({"depth": depth, "layer": layer, "features": features.shape[1],
                     "accuracy": result["accuracy"]})
    return pd.DataFrame(rows)


def project_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Two coordinates per image for a scatter plot: PCA (linear) or t-SNE (neighbourhoods)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler
    x = StandardScaler().fit_transform(features)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        reduced = PCA(n_components=min(50, x.shape[1]), random_state=seed).fit_transform(x)
        return TSNE(n_components=2, init="pca", perplexity=min(30, len(x) // 4), random_state=seed).fit_transform(reduced)
    raise ValueError(f"Unknown projection {method!r}: use 'pca' or 'tsne'.")
