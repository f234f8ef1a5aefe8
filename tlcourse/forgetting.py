"""Forgetting, measured: what fine-tuning on a target leaves of the source task (notebook 06).

A pretrained body fine-tuned on a new target still has its original ImageNet head somewhere:
put it back on the fine-tuned body and ask the network the ImageNet question again, on images
neither task trained on. How often it still gives the untouched network's top-1 class
(`agreement`), how far its predicted distribution moved (the KL divergence from the untouched
network's), and how far the body's features moved (their cosine similarity to the untouched
ones) say how much of the source task survived. Notebooks 00 and 04 measure forgetting as the
source accuracy under the old head; this module does it where the source labels are not at
hand, as for ImageNet.

Not about: choosing what trains (efficient.py).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .backbones import BACKBONE_NAME, get_backbone, whole_network
from .checks import SIZE, checked, text
from .features import extract_features, forward_features
from .runtime import device


@checked(backbone=BACKBONE_NAME)
def imagenet_head(backbone: str = "efficientnet_lite0") -> nn.Linear:
    """The pretrained network's own last layer: the 1,000 ImageNet classes read from the body's
    averaged features (for EfficientNet-Lite, ResNets and MobileNets the original head is
    average pooling, dropout and this Linear layer, so applied to averaged features it is exact)."""
    linears = [m for m in whole_network(backbone, pretrained=True).modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1].out_features != 1000:
        raise ValueError(f"{backbone!r} has no 1,000-class ImageNet layer to put back.")
    return linears[-1].eval().to(device())


def _probabilities(head: nn.Linear, features: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        logits = head(torch.as_tensor(features, dtype=torch.float32, device=device()))
    return logits.float().log_softmax(-1).cpu()


@checked(name=text(), backbone=BACKBONE_NAME, size=SIZE)
def imagenet_drift(body: nn.Module, items, name: str, backbone: str = "efficientnet_lite0",
                   size: int = 64, head: nn.Linear | None = None) -> dict:
    """Put the ImageNet head back on a fine-tuned `body` and compare it with the untouched
    network on the images of `items` (a table with a `path` column; `name` names them in the
    feature cache), at `size` pixels.

    Returns `agreement` (the fraction of images whose top-1 ImageNet class is unchanged), `kl`
    (the mean KL divergence, in nats, of the fine-tuned network's ImageNet distribution from
    the untouched one's) and `feature_cosine` (the mean cosine similarity between the body's
    averaged features before and after). An untouched body gives 1, 0 and 1."""
    if "path" not in items or len(items) == 0:
        raise ValueError("items must be a non-empty table with a 'path' column (tl.load_items).")
    head = head if head is not None else imagenet_head(backbone)
    last = list(dict(body.named_children()))[-1]
    before = extract_features(items, name, backbone, layers=(last,), size=size)[last]   # cached
    was_training = body.training
    body.eval()
    try:
        after = forward_features(body, list(items["path"]), [last], size, get_backbone(backbone).stats)[last]
    finally:
        body.train(was_training)
    log_p, log_q = _probabilities(head, before), _probabilities(head, after)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    cosine = nn.functional.cosine_similarity(torch.as_tensor(before), torch.as_tensor(after), dim=1).mean()
    return {"agreement": float((log_p.argmax(-1) == log_q.argmax(-1)).float().mean()),
            "kl": float(kl), "feature_cosine": float(cosine)}
