"""Parameter-efficient fine-tuning: choosing what trains, and what training costs (notebook 06).

Between "train the head alone" and "train every weight" lie methods that train a small part of
the body: its normalisation layers' scale and shift (Frankle et al. 2021), its bias terms
(BitFit, Ben Zaken et al. 2022), or a low-rank update beside its weight matrices (LoRA, Hu et
al. 2022, through Hugging Face's `peft`). `train_only` sets up any of them on a learner of the
course, and `memory` counts what a training step holds, by construction rather than from the
process's memory, which is too noisy on a small model to compare methods.

Not about: what fine-tuning forgets of the source task (forgetting.py).
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from .checks import EPOCHS, RATE, SEED, checked, choice, whole
from .models import Trainable, trainable_parameters

# What each method trains besides the new head (which every method trains).
WHAT_TRAINS = {
    "head only": "nothing in the body",
    "norm only": "the body's normalisation layers' scale and shift (BatchNorm, LayerNorm)",
    "bias only": "the body's bias terms (BitFit)",
    "LoRA": "a low-rank update beside chosen weight matrices (peft)",
    "full": "every weight of the body",
}
NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


def _peft():
    # peft imports tqdm.auto, which warns in a kernel without ipywidgets; the warning names this
    # machine's paths and nothing a learner can act on, so peft is imported without it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import peft
        import peft.tuners.lora
    return peft

RANK = whole(1, hint="LoRA's rank")
METHOD = choice(lambda: WHAT_TRAINS, hint="what trains in the body")


def pointwise_convolutions(body: nn.Module) -> list[str]:
    """Names of the body's 1 x 1 convolutions (the layers LoRA adapts in a CNN, notebook 06):
    in an EfficientNet or a MobileNet they hold most of the weights."""
    return [name for name, m in body.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1]


def _plain_pointwise(body: nn.Module) -> None:
    # peft copies a Conv2d by calling its class with nn.Conv2d's arguments in nn.Conv2d's order;
    # efficientnet-lite-pytorch's own convolution class takes them in another order (peft then
    # fails with "non-positive dilation"). A 1 x 1 convolution with stride 1 needs no padding, so
    # it is exactly the plain nn.Conv2d with the same weights.
    for name in pointwise_convolutions(body):
        old = body.get_submodule(name)
        if type(old) is nn.Conv2d or old.stride != (1, 1):
            continue
        new = nn.Conv2d(old.in_channels, old.out_channels, 1, bias=old.bias is not None)
        new.weight, new.bias = old.weight, old.bias   # the same parameters, not copies
        parent, _, child = name.rpartition(".")
        setattr(body.get_submodule(parent) if parent else body, child, new)


def text_lora_targets(body: nn.Module) -> list[str]:
    """The transformer's attention projections and feed-forward layers (its Linear layers)."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in body.named_modules() if isinstance(m, nn.Linear)})


@checked(r=RANK, alpha=whole(1, optional=True, hint="the adapters' scale is alpha / r; None: alpha = r"))
def add_lora(model: nn.Module, r: int = 8, alpha: int | None = None, targets: list[str] | None = None) -> nn.Module:
    """Put LoRA adapters of rank `r` beside the body's `targets` (layer names; by default every
    1 x 1 convolution of a CNN, or every Linear layer of a transformer), with peft's
    `inject_adapter_in_model`. Each adapted layer computes W x + (alpha / r) B A x, where W stays
    frozen and only A (r x in) and B (out x r, starting at zero) train, so the model starts as it
    was. `alpha` defaults to `r` (a scale of 1). The model is changed in place and returned."""
    peft = _peft()
    body = model.body
    _plain_pointwise(body)
    if targets is None:
        convolutions = pointwise_convolutions(body)
        targets = convolutions if convolutions else text_lora_targets(body)
    if not targets:
        raise ValueError("This body has no 1 x 1 convolution or Linear layer for LoRA; pass targets=[...] by name.")
    config = peft.LoraConfig(r=r, lora_alpha=alpha or r, lora_dropout=0.0, target_modules=targets)
    device = next(body.parameters()).device
    peft.inject_adapter_in_model(config, body)
    body.to(device)
    return model


def lora_layers(model: nn.Module) -> list:
    """The layers peft adapted (each holds its frozen base layer and its A and B)."""
    return [m for m in model.modules() if isinstance(m, _peft().tuners.lora.LoraLayer)]


def merge_lora(model: nn.Module) -> None:
    """Add each adapter's update B A into its base layer's weight (no extra cost at inference)."""
    for layer in lora_layers(model):
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    """Subtract the merged updates again: the base weights are back, up to rounding."""
    for layer in lora_layers(model):
        layer.unmerge()


def use_lora(model: nn.Module, on: bool = True) -> None:
    """Switch the (unmerged) adapters on or off: off, the model computes what it did before LoRA."""
    for layer in lora_layers(model):
        layer.enable_adapters(on)


@checked(method=METHOD, r=RANK)
def train_only(learn, method: str, r: int = 8) -> Trainable:
    """Make `learn` train its new head and, in its body, only what `method` names (`WHAT_TRAINS`);
    returns the count of trainable parameters. For "LoRA", adapters of rank `r` are added first
    (`add_lora`). The optimizer is rebuilt, so it holds exactly the parameters that train.

    The body's BatchNorm layers keep their pretrained running statistics under every method but
    "full" (`training.BatchNormInference`), so what changes in the body is exactly what is counted
    here; "full" is fastai's fine-tuning, whose BatchNorm layers follow each batch. Call it on a
    fresh learner from `create_learner`, before fitting (notebook 06)."""
    from .training import BatchNormInference
    model = learn.model
    if method == "LoRA":
        add_lora(model, r=r)
    norms = {id(p) for m in model.body.modules() if isinstance(m, NORMS) for p in m.parameters()}
    trains = {"head only": lambda name, p: False, "norm only": lambda name, p: id(p) in norms,
              "bias only": lambda name, p: name.endswith("bias"), "LoRA": lambda name, p: "lora_" in name,
              "full": lambda name, p: True}[method]
    for name, p in model.body.named_parameters():
        p.requires_grad_(trains(name, p))
    model.head.requires_grad_(True)
    if method != "full" and not any(isinstance(cb, BatchNormInference) for cb in learn.cbs):
        learn.add_cb(BatchNormInference())
    learn.create_opt()   # fastai's freeze/unfreeze would undo this choice: call neither afterwards
    return trainable_parameters(model)


def memory(learn, batch=None) -> dict:
    """Bytes a training step of `learn` holds, counted in float32 by construction (notebook 06):

    - parameters: every weight of the model;
    - gradients: one number per trainable parameter;
    - optimizer state: the tensors the optimizer keeps per trainable parameter (Adam: two),
      read from the optimizer's own state after a step (`learn.fit` must have run);
    - activations: the tensors autograd saves during the forward pass for the backward pass,
      caught with torch's saved-tensor hooks on one training batch (each storage once; the
      parameters themselves are not counted again).
    """
    from .training import BatchNormInference
    xb = (batch or learn.dls.train.one_batch())[:-1]
    model = copy.deepcopy(learn.model).train()   # a copy: a forward pass in training mode moves BatchNorm statistics
    if any(isinstance(cb, BatchNormInference) for cb in learn.cbs):
        for m in model.body.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(*xb)
    trainable = [p for p in learn.model.parameters() if p.requires_grad]
    state = learn.opt.state if learn.opt is not None else {}
    optimizer = sum(t.numel() * t.element_size() for p in trainable for t in state.get(p, {}).values()
                    if isinstance(t, torch.Tensor) and t.ndim > 0)
    return {"parameters": sum(p.numel() * 4 for p in model.parameters()),
            "gradients": sum(p.numel() * 4 for p in trainable),
            "optimizer state": optimizer,
            "activations": sum(seen.values())}


@checked(method=METHOD, epochs=EPOCHS, lr=RATE, seed=SEED, r=RANK)
def run_method(make_learner, method: str, epochs: int, lr: float, seed: int, r: int = 8, cbs=()) -> dict:
    """Train one fresh learner (`make_learner(seed)`) with `train_only(method)` for `epochs` of
    one-cycle at `lr`; score it once at the end (notebook 06). The row holds the method, its held-out
    accuracy, the seconds it trained, its trainable and total parameters, `memory(learn)` and the
    trained `learner`. `cbs` are added before training (e.g. `layerwise.L2SP` for L2-SP)."""
    from .training import SkipValidation, one_cycle
    learn = make_learner(seed)
    counted = train_only(learn, method, r=r)
    learn.add_cbs([SkipValidation(), *cbs])
    row = one_cycle(learn, epochs, lr, seed, method)
    return {**row, "trainable": counted.trainable, "total": counted.total, "memory": memory(learn), "learner": learn}
