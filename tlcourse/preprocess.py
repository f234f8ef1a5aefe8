"""One way to turn an image file into what a network reads, for every path of the course.

The recipe: convert to RGB; if the image is not square, keep its centre square (the
shorter side's length each way); resize that square to `size` x `size` with bilinear
interpolation; scale to [0, 1]; normalise with the statistics the weights expect. It is
fastai's `Resize` as it prepares validation images (centre crop, bilinear), so a learner's
validation images, the features a probe reads (notebook 01), ImageNet predictions
(notebook 00), the corrupted copies of notebook 04 and `python -m tlcourse.finetune` all
see the same pixels of the same photo. Training adds its augmentations on top, on batches
(`data.cell_augmentations`). Introduced in notebook 00.

Not about: where images come from (data.py) or caching them on disk (cache.py).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .checks import SIZE, checked, whole

# Part of every cache key built on prepared images: change it when the recipe changes, and
# features or corrupted copies prepared the old way are never read again.
VERSION = 2


@checked(size=SIZE)
def prepare(image: Image.Image, size: int) -> Image.Image:
    """The course's recipe (see the module's docstring): RGB, centre square, bilinear resize."""
    image = image.convert("RGB")
    w, h = image.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2   # as fastai's Resize for validation images
        image = image.crop((left, top, left + side, top + side))
    return image.resize((size, size), Image.BILINEAR)


def read(path, size: int) -> Image.Image:
    """An image file, prepared (`prepare`)."""
    with Image.open(path) as image:
        return prepare(image, size)


def to_tensor(images, stats) -> torch.Tensor:
    """A batch (images x 3 x size x size) of prepared images, scaled to [0, 1] and normalised
    with `stats` = (means, standard deviations), one per channel."""
    x = torch.from_numpy(np.stack([np.asarray(image) for image in images])).permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in stats)
    return (x - mean) / std


class ImageReader:
    """fastai's `get_x` for the course's DataLoaders: each file is read and prepared once
    (`prepare`) and kept in memory, up to `max_bytes`.

    Why in memory: for the small images of the offline course, reading the file and
    resizing it per item took about 60 % of a small CNN's training time; kept in memory, an
    epoch of 1,000 32-pixel digits loads in 0.2 s instead of 0.9 s (measured for notebook 04).
    """

    @checked(size=SIZE, max_bytes=whole(0, hint="memory for prepared images, in bytes"))
    def __init__(self, size: int, max_bytes: int = 1 << 30):
        self.size, self.max_bytes, self.bytes, self.images = size, max_bytes, 0, {}

    def __call__(self, row) -> Image.Image:
        path = row["path"]
        image = self.images.get(path)
        if image is None:
            image = read(path, self.size)
            if self.bytes + 3 * self.size ** 2 <= self.max_bytes:
                self.images[path] = image
                self.bytes += 3 * self.size ** 2
        return image
