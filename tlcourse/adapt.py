"""Four ways to adapt a source-trained model to a shifted target domain (notebook 04).

Each small enough to read in one sitting:

- AdaBN (Li et al. 2016): recompute BatchNorm's statistics on unlabelled target images;
- CORAL (Sun & Saenko 2016, "Deep CORAL"): a loss that aligns the covariance of source and
  target features;
- DANN (Ganin et al. 2016): a domain classifier behind a gradient-reversal layer, so the
  features learn to hide which domain an image came from;
- few-shot target fine-tuning: k labelled target images per class (data.split_items).

CORAL and DANN align the features the model's classifier reads (the input of
`model.get_classifier()`, the course's model contract), so they can move even while the
body is frozen. Introduced in notebook 04.

Not about: making shifted data (shift.py) or training schedules (training.py).
"""
from __future__ import annotations

import contextlib
import copy

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.vision.augment import Normalize
from torch import nn

from .checks import RATE, SEED, SIZE, checked, choice, number, whole
from .data import dls_from_items, split_items
from .models import classifier_of
from .runtime import autocast
from .training import Precision, Seeded, quiet_when_unattended


# --------------------------------------------------------------------------- AdaBN

def _batchnorms(model: nn.Module) -> list:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
@checked(batches=whole(1, optional=True, hint="target batches to measure; None: all of them"))
def adabn(learn, target_dl, batches: int | None = None):
    """AdaBN: inside the block, every BatchNorm layer normalises with statistics measured on
    unlabelled target images; afterwards the source statistics are back.

    Only the running means and variances change: no weight is trained and no label is read.
    """
    layers = _batchnorms(learn.model)
    if not layers:
        raise ValueError("AdaBN needs BatchNorm layers; this model has none.")
    saved = [(bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone(), bn.momentum)
             for bn in layers]
    was_training = learn.model.training
    try:
        for bn in layers:
            bn.reset_running_stats()
            bn.momentum = None  # a plain average over all target batches, not a moving one
        learn.model.eval()
        for bn in layers:
            bn.train()          # only BatchNorm measures; dropout stays off
        with torch.no_grad():
            # Each batch is drawn outside autocast: a DataLoader with affine augmentations warps
            # even its validation images by the identity, and under bfloat16 that warp moves pixels.
            for i, (xb, *_) in enumerate(target_dl):
                if batches is not None and i >= batches:
                    break
                with autocast("inference"):   # the precision validation will run in
                    learn.model(xb)
        learn.model.eval()
        yield learn
    finally:
        for bn, (mean, var, count, momentum) in zip(layers, saved):
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.num_batches_tracked.copy_(count)
            bn.momentum = momentum
        learn.model.train(was_training)


# --------------------------------------------------------------------------- few-shot

@checked(k=whole(1, hint="labelled target images per class"), valid_per_class=whole(1), size=SIZE, seed=SEED)
def few_shot_learner(learn, target_items: pd.DataFrame, k: int, valid_per_class: int, size: int,
                     seed: int = 0) -> Learner:
    """A copy of a source-trained learner's whole model (its head included: the classes are
    the same), on k labelled target images per class, validated on the target's held-out
    images. Train it with `training.train_all`. The held-out images are the ones
    `data.split_items(target_items, valid_per_class=..., seed=...)` holds out for any k, so
    every method is scored on the same target images.
    """
    items = split_items(target_items, n_per_class=k, valid_per_class=valid_per_class, seed=seed)
    n_train = int((~items["is_valid"]).sum())
    dls = dls_from_items(items, size=size, seed=seed, bs=min(learn.dls.bs, n_train))
    if list(dls.vocab) != list(learn.dls.vocab):
        raise ValueError(f"The target's classes {list(dls.vocab)} differ from the source's {list(learn.dls.vocab)}.")
    # The source's input normalisation, so the copied model sees inputs scaled as before.
    dls.add_tfms([t for t in learn.dls.after_batch.fs if isinstance(t, Normalize)], "after_batch")
    return quiet_when_unattended(Learner(dls, copy.deepcopy(learn.model), loss_func=learn.loss_func,
                                         metrics=learn.metrics, splitter=learn.splitter, path=learn.path,
                                         model_dir=learn.model_dir, cbs=[Precision(), Seeded(seed)]))


# --------------------------------------------------------------------------- CORAL and DANN

def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Deep CORAL: the squared Frobenius distance between the feature covariances of a source
    and a target batch, divided by 4 d^2 (d features), as in Sun & Saenko 2016."""
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"Need two (batch, features) tensors with the same width, got "
                         f"{tuple(source.shape)} and {tuple(target.shape)}.")
    d = source.shape[1]
    return ((torch.cov(source.T) - torch.cov(target.T)) ** 2).sum() / (4 * d * d)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, strength):
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.strength * grad, None


class GradientReversal(nn.Module):
    """Identity on the way forward; multiplies the gradient by -strength on the way back
    (Ganin et al. 2016). What follows it learns to tell domains apart; what precedes it
    learns to make that impossible."""

    @checked(strength=number(0))
    def __init__(self, strength: float = 1.0):
        super().__init__()
        self.strength = strength

    def forward(self, x):
        return _ReverseGradient.apply(x, self.strength)


WEIGHT = number(0, hint="how much the alignment loss counts beside the classification loss")


class _TargetBatches(Callback):
    """Shared by CORAL and DANN: each training batch carries an unlabelled target batch of the
    same size, both go through the model together, and the features of each half are kept."""
    order = 5   # before the loss is computed, so the source predictions alone meet the labels

    @checked(weight=WEIGHT)
    def __init__(self, target_dl, weight: float):
        self.target_dl, self.weight = target_dl, weight
        self.losses = []   # the alignment loss at every training step

    def _next_target(self):
        try:
            return next(self._target)
        except StopIteration:  # the target data ran out before the source data: start it again
            self._target = iter(self.target_dl)
            return next(self._target)

    def before_fit(self):
        self._target = iter(self.target_dl)
        self._hook = classifier_of(self.learn.model).register_forward_hook(
            lambda module, inputs, output: setattr(self, "_features", inputs[0]))

    def after_fit(self):
        self._hook.remove()

    def before_batch(self):
        if self.training:
            target_x = self._next_target()[0]
            self._n_source = self.learn.xb[0].shape[0]
            self.learn.xb = (torch.cat([self.learn.xb[0], target_x[: self._n_source]]),)

    def after_pred(self):
        if self.training:
            n = self._n_source
            # float32: under bfloat16 autocast the forward pass hands back bfloat16, and a
            # covariance or a domain classifier in bfloat16 loses most of its digits
            features, pred = self._features.float(), self.learn.pred.float()
            self.source_features, self.target_features = features[:n], features[n:]
            self.source_outputs, self.target_outputs = pred[:n], pred[n:]
            self.learn.pred = self.source_outputs

    def after_loss(self):
        if self.training:
            alignment = self.alignment_loss()
            self.losses.append(float(alignment.detach()))
            self.learn.loss_grad = self.learn.loss_grad + self.weight * alignment


class CORAL(_TargetBatches):
    """Deep CORAL as a fastai callback: adds weight * coral_loss(source, target features) to the
    training loss. The target batches are unlabelled. Introduced in notebook 04."""

    @checked(weight=WEIGHT, layer=choice(("features", "outputs")))
    def __init__(self, target_dl, weight: float = 1.0, layer: str = "features"):
        super().__init__(target_dl, weight)
        self.layer = layer

    def alignment_loss(self):
        if self.layer == "outputs":
            return coral_loss(self.source_outputs, self.target_outputs)
        return coral_loss(self.source_features, self.target_features)


class DANN(_TargetBatches):
    """Domain-adversarial training (Ganin et al. 2016) as a fastai callback.

    A small domain classifier reads the features through a GradientReversal layer and learns,
    with its own optimizer, to tell source from target; the reversed gradient teaches the
    model's features to hide the domain. The reversal strength grows from 0 to 1 over
    training, 2 / (1 + exp(-10 p)) - 1, as in the paper. Introduced in notebook 04.
    """

    @checked(weight=WEIGHT, hidden=whole(1, hint="units in the domain classifier"), lr=RATE)
    def __init__(self, target_dl, weight: float = 1.0, hidden: int = 64, lr: float = 1e-3):
        super().__init__(target_dl, weight)
        self.hidden, self.lr = hidden, lr
        self.reversal = GradientReversal(0.0)
        self.domain_accuracy = []   # how well the domain classifier did, per step

    def before_fit(self):
        super().before_fit()
        if not hasattr(self, "classifier"):
            width = classifier_of(self.learn.model).in_features
            self.classifier = nn.Sequential(nn.Linear(width, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 2))
            self.classifier.to(next(self.learn.model.parameters()).device)
            self.optimizer = torch.optim.Adam(self.classifier.parameters(), lr=self.lr)

    def alignment_loss(self):
        self.reversal.strength = 2 / (1 + np.exp(-10 * self.pct_train)) - 1
        features = torch.cat([self.source_features, self.target_features])
        domains = torch.cat([torch.zeros(len(self.source_features)), torch.ones(len(self.target_features))])
        logits = self.classifier(self.reversal(features))
        domains = domains.long().to(logits.device)
        self.domain_accuracy.append(float((logits.argmax(1) == domains).float().mean()))
        return nn.functional.cross_entropy(logits, domains)

    def after_step(self):
        # The learner's optimizer stepped the model; this one steps the domain classifier.
        self.optimizer.step()
        self.optimizer.zero_grad()
