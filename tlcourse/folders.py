"""Your own images: a folder laid out one sub-folder per class, read as a table of items.

    my_images/               or, with a validation set of your own (fastai's layout):
        cracked/a.png            my_images/train/cracked/...   my_images/train/intact/...
        intact/b.png             my_images/valid/cracked/...   my_images/valid/intact/...

`tl.load_items("my_images")` and `tl.get_dls("my_images", ...)` read either layout. In the
second, the table has an `is_valid` column taken from the folders, and `split_items` keeps it,
as fastai's `ImageDataLoaders.from_folder` does: your validation images stay your validation
images. The README's "Your own images" and notebook 02's last section go on from here to
fine-tuning, saving, loading and predicting (`predict.py`).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from fastai.data.transforms import get_image_files
from fastai.vision.utils import verify_image

SPLIT_FOLDERS = ("train", "valid")   # fastai's from_folder defaults


def folder_items(folder) -> pd.DataFrame:
    """Items of a folder laid out one sub-folder per class (any depth below it); with `train/`
    and `valid/` sub-folders, an `is_valid` column says which images are the validation set.

    Unreadable image files are skipped with a warning that names them.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder not found: {folder}. Pass a folder with one sub-folder per class.")
    split = all((folder / name).is_dir() for name in SPLIT_FOLDERS)
    files = [f for name in SPLIT_FOLDERS for f in get_image_files(folder / name)] if split else get_image_files(folder)
    if not files:
        raise ValueError(f"No images found in {folder}: expected one sub-folder per class, each holding images.")
    broken = [f for f in files if not verify_image(f)]
    if broken:
        warnings.warn(f"Skipping {len(broken)} unreadable image file(s): " + ", ".join(map(str, broken[:5])))
        files = [f for f in files if f not in set(broken)]
    items = pd.DataFrame({"path": [str(f) for f in files], "label": [f.parent.name for f in files]})
    if split:
        items["is_valid"] = [f.relative_to(folder).parts[0] == "valid" for f in files]
        _check_split(items, folder)
    return items


def _check_split(items: pd.DataFrame, folder: Path) -> None:
    # A class that is missing from one side would train on nothing or never be scored.
    train, valid = (set(items.loc[items["is_valid"] == side, "label"]) for side in (False, True))
    if train != valid:
        raise ValueError(f"{folder}: train/ and valid/ must hold the same class folders; only in train/: "
                         f"{sorted(train - valid) or 'none'}, only in valid/: {sorted(valid - train) or 'none'}.")
