"""A fine-tuned model on new images: save it, load it back, predict. Introduced in notebook 02,
section 8 ("Your own images"), after `folders.py` has read a folder of your own.

A model is saved as two files in a folder of its own:

- `model.pth`, its weights as a state dict. `load_model` reads it with
  `torch.load(..., weights_only=True)`, which reads tensors only and runs no code from the file
  (a pickled Learner, fastai's `export`, can run any code when it is loaded: only load one you made).
- `model.json`, what rebuilds the network around those weights: the backbone, the classes in the
  order of the model's outputs, and the image size it was trained at.

`python -m tlcourse.finetune` writes the same two files, and this module's command line reads them:

    python -m tlcourse.predict runs/finetune new_images/ more.png [--csv predictions.csv]

Not about: training (training.py) or scoring a validation set (evaluate.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from fastai.data.transforms import get_image_files

from . import cache, preprocess
from .backbones import get_backbone
from .checks import BATCH, checked
from .models import TransferModel, transfer_model
from .runtime import autocast, device

WEIGHTS, DESCRIPTION = "model.pth", "model.json"


def save_model(learn, folder) -> Path:
    """Write a learner's weights and what rebuilds them (`model.json`) to `folder`; returns it.

    The learner must come from `create_learner(dls, backbone)` with the default head (it records
    its backbone; a learner given `body=` or head settings cannot be rebuilt from a name) on
    DataLoaders from `get_dls` or `dls_from_items` (they record the image size). Each file is
    written to a temporary name and renamed: a run that stops never leaves half a file."""
    backbone, size = getattr(learn, "backbone", None), getattr(learn.dls, "size", None)
    if backbone is None or size is None:
        raise ValueError("save_model needs a learner from tl.create_learner(dls, backbone) with its default head, "
                         "on DataLoaders from tl.get_dls (they record the backbone and the image size); for another "
                         "model, save learn.model.state_dict() with torch.save.")
    folder = Path(folder)
    description = {"backbone": backbone, "classes": [str(c) for c in learn.dls.vocab], "size": int(size)}
    with cache.writing(folder / WEIGHTS) as tmp:
        torch.save(learn.model.state_dict(), tmp)
    with cache.writing(folder / DESCRIPTION) as tmp:
        tmp.write_text(json.dumps(description, indent=1))
    return folder


@dataclass
class SavedModel:
    """A saved model loaded back (`load_model`): the network, in eval mode, and how to feed it."""
    model: TransferModel
    backbone: str
    classes: list
    size: int

    @checked(bs=BATCH)
    def predict(self, files, bs: int = 32) -> pd.DataFrame:
        """One row per image: its path, the predicted class, that class's probability, and the
        probability of every class. `files`: image files and folders (read recursively), or one.

        Each image is prepared by the course's one recipe at the size the model trained at
        (`preprocess.prepare`), as its validation images were."""
        paths = _image_paths(files)
        stats = get_backbone(self.backbone).stats
        chunks = []
        for start in range(0, len(paths), bs):
            x = preprocess.to_tensor([preprocess.read(p, self.size) for p in paths[start:start + bs]], stats)
            with torch.inference_mode(), autocast("inference"):
                chunks.append(self.model(x.to(device())).float().softmax(-1).cpu())
        probs = torch.cat(chunks).numpy()
        table = pd.DataFrame(probs, columns=[f"P({c})" for c in self.classes])
        table.insert(0, "path", [str(p) for p in paths])
        table.insert(1, "predicted", [self.classes[i] for i in probs.argmax(1)])
        table.insert(2, "probability", probs.max(1))
        return table


def load_model(folder) -> SavedModel:
    """A model saved by `save_model` (or `python -m tlcourse.finetune`), rebuilt and loaded on the
    course's device: the backbone's network with random weights, then the saved weights, all of
    them (`strict`), read with `weights_only=True`."""
    folder = Path(folder)
    missing = [name for name in (WEIGHTS, DESCRIPTION) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}: save a model there with "
                                "tl.predict.save_model(learn, folder) or python -m tlcourse.finetune --out folder.")
    description = json.loads((folder / DESCRIPTION).read_text())
    backbone, classes = description["backbone"], description["classes"]
    model = transfer_model(backbone, len(classes), pretrained=False)
    model.load_state_dict(torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True))
    model = get_backbone(backbone).prepare(model).eval()
    return SavedModel(model, backbone, classes, int(description["size"]))


def _image_paths(files) -> list[Path]:
    files = [files] if isinstance(files, (str, Path)) else list(files)
    paths = []
    for f in map(Path, files):
        if f.is_dir():
            paths += sorted(get_image_files(f))
        elif f.is_file():
            paths.append(f)
        else:
            raise FileNotFoundError(f"No such image file or folder: {f}.")
    if not paths:
        raise ValueError(f"No images found in {', '.join(map(str, files))}.")
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a folder holding model.pth and model.json")
    parser.add_argument("images", nargs="+", type=Path, help="image files or folders of images")
    parser.add_argument("--csv", type=Path, help="also write the table here")
    parser.add_argument("--bs", type=int, default=32, help="images per batch")
    args = parser.parse_args(argv)
    if args.bs < 1:
        parser.error("--bs must be at least 1")
    table = load_model(args.model).predict(args.images, bs=args.bs)
    if args.csv:
        table.to_csv(args.csv, index=False)
    with pd.option_context("display.max_colwidth", 60, "display.width", 160):
        print(table.to_string(index=False, float_format="{:.3f}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
