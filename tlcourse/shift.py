"""Domain shift: shifted versions of a dataset, accuracy across domains, and four ways to adapt.

A model trained on one domain (the *source*) is tested on another (the *target*): solar
cells of another crystal type, digits from another collection, images corrupted as in
ImageNet-C. The adaptation methods, each small enough to read in one sitting:

- AdaBN (Li et al. 2016): recompute BatchNorm's statistics on unlabelled target images;
- CORAL (Sun & Saenko 2016, "Deep CORAL"): a loss that aligns the covariance of source and
  target features;
- DANN (Ganin et al. 2016): a domain classifier behind a gradient-reversal layer, so the
  features learn to hide which domain an image came from;
- few-shot target fine-tuning: k labelled target images per class (data.split_items).

Introduced in notebook 04. Not about: training schedules (training.py) or plots (plots.py).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.vision.augment import Normalize
from PIL import Image
from torch import nn

from .data import _cached_images, dls_from_items, label_indices, require_columns, split_items
from .features import linear_probe
from .runtime import autocast, device
from .training import Precision

# Measured at 32x32 on two CPU cores, severity 3: every corruption takes 0.1-5 ms per image
# except glass_blur (about 140 ms). One of each family: noise, blur, weather, digital.
# `corrupt_items` accepts any name the `imagecorruptions` package knows.
FAST_CORRUPTIONS = ("gaussian_noise", "impulse_noise", "defocus_blur", "motion_blur", "fog",
                    "contrast", "pixelate", "jpeg_compression")


# --------------------------------------------------------------------------- shifted data

def corrupt_image(image: np.ndarray, corruption: str, severity: int) -> np.ndarray:
    """One image corrupted as in ImageNet-C (Hendrycks & Dietterich 2019), same shape and dtype.

    `image` is uint8, height x width (x 3), at least 32 pixels each way. Severity 1 to 5.
    """
    from imagecorruptions import corrupt, get_corruption_names
    if corruption not in get_corruption_names("all"):
        raise ValueError(f"Unknown corruption {corruption!r}; known: {', '.join(get_corruption_names('all'))}.")
    if severity not in (1, 2, 3, 4, 5):
        raise ValueError(f"severity must be 1, 2, 3, 4 or 5, got {severity!r}.")
    if image.dtype != np.uint8 or min(image.shape[:2]) < 32:
        raise ValueError(f"Need a uint8 image of at least 32x32 pixels, got {image.dtype} {image.shape}.")
    grey = image.ndim == 2
    corrupted = corrupt(np.stack([image] * 3, -1) if grey else image, corruption_name=corruption,
                        severity=severity)
    # Some corruptions return floats or a different size (pixelate, jpeg): back to the input's form.
    corrupted = np.asarray(Image.fromarray(np.uint8(np.clip(corrupted, 0, 255))).resize(image.shape[1::-1]))
    return corrupted.mean(-1).astype(np.uint8) if grey else corrupted


def corrupt_items(items: pd.DataFrame, corruption: str, severity: int, size: int = 32,
                  seed: int = 0) -> pd.DataFrame:
    """A corrupted copy of every image in `items` (resized to `size` first), cached on disk.

    The copies are written once, as PNG files, to the course's cache, under a name made from
    the corruption, severity, size, seed and the items themselves; a second call reads them.
    Returns the same table with `path` pointing at the copies.
    """
    key = hashlib.sha1("\n".join(items["path"]).encode()).hexdigest()[:10]
    name = f"corrupted-{corruption}-{severity}-{size}px-seed{seed}-{key}"

    def images():
        rng_state = np.random.get_state()
        np.random.seed(seed)  # the package draws its noise from numpy's global generator
        try:
            for path in items["path"]:
                image = np.asarray(Image.open(path).convert("RGB").resize((size, size)))
                yield corrupt_image(image, corruption, severity)
        finally:
            np.random.set_state(rng_state)

    corrupted = _cached_images(name, images(), items["label"])
    return items.assign(path=corrupted["path"].to_numpy())


# --------------------------------------------------------------------------- cached features

class FeatureHead(nn.Sequential):
    """A small classifier on cached embeddings (notebook 01's frozen features): BatchNorm on
    the input, one hidden layer, BatchNorm, then the output layer. The BatchNorm layers are
    what AdaBN re-estimates, and the hidden layer's output is what CORAL and DANN align."""

    def __init__(self, width: int, classes: int, hidden: int = 64):
        super().__init__(nn.BatchNorm1d(width), nn.Linear(width, hidden), nn.ReLU(),
                         nn.BatchNorm1d(hidden), nn.Linear(hidden, classes))


def feature_batches(embeddings: np.ndarray, items: pd.DataFrame | None = None, vocab=None,
                    bs: int = 64, shuffle: bool = False):
    """Batches of cached embeddings, labelled from `items` (one row per embedding, in order)
    or unlabelled when `items` is None: what `feature_learner`, `domain_accuracy`, AdaBN,
    CORAL and DANN read when the body is frozen and its features are cached."""
    from fastai.data.load import DataLoader
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"Need a (images, features) array with at least one row, got shape {tuple(x.shape)}.")
    if items is None:
        dataset = [(row,) for row in x]
    else:
        if len(items) != len(x):
            raise ValueError(f"{len(x)} embeddings but {len(items)} items: they must match row for row.")
        vocab = sorted(items["label"].unique()) if vocab is None else vocab
        dataset = list(zip(x, torch.tensor(label_indices(items, vocab))))
    dl = DataLoader(dataset, bs=bs, shuffle=shuffle, drop_last=shuffle and len(dataset) >= bs)
    dl.vocab = list(vocab) if vocab is not None else None
    return dl


def feature_learner(embeddings: np.ndarray, items: pd.DataFrame, vocab=None, model: nn.Module | None = None,
                    hidden: int = 64, bs: int = 64, seed: int = 0) -> Learner:
    """A fastai Learner for a `FeatureHead` (or a copy of `model`) on cached embeddings.

    `items` gives each embedding's label and `is_valid` (from `data.split_items`); `vocab`
    fixes the class order (default: sorted labels), so a head trained on one domain can be
    copied to another. Introduced in notebook 04.
    """
    from fastai.data.core import DataLoaders
    from fastai.metrics import accuracy
    from fastai.torch_core import set_seed
    embeddings = np.asarray(embeddings)
    require_columns(items, "label", "is_valid")
    vocab = sorted(items["label"].unique()) if vocab is None else list(vocab)
    valid = items["is_valid"].to_numpy(bool)
    set_seed(seed, reproducible=True)
    dls = DataLoaders(feature_batches(embeddings[~valid], items[~valid], vocab, bs, shuffle=True),
                      feature_batches(embeddings[valid], items[valid], vocab, bs), device=device())
    dls.vocab = vocab
    head = FeatureHead(embeddings.shape[1], len(vocab), hidden) if model is None else copy.deepcopy(model)
    return Learner(dls, head.to(device()), loss_func=nn.CrossEntropyLoss(), metrics=accuracy, cbs=[Precision()])


# --------------------------------------------------------------------------- measuring

def _batches_of(learn, name: str, items):
    """Labelled batches for one domain: a table of items goes through the learner's own
    preprocessing (`test_dl`); batches made elsewhere (e.g. `feature_batches`) pass as given."""
    if not isinstance(items, pd.DataFrame):
        return items
    unknown = set(items["label"]) - set(learn.dls.vocab)
    if unknown:
        raise ValueError(f"Domain {name!r} has labels the model never saw: {sorted(unknown)}.")
    return learn.dls.test_dl(items, with_labels=True)


def domain_accuracy(learn, domains: dict) -> pd.DataFrame:
    """Accuracy of one learner on several domains: {"name": items with path and label}, or
    {"name": labelled batches} (e.g. `feature_batches` of cached embeddings).

    Labels must come from the learner's vocabulary (the same classes in every domain).
    """
    rows = []
    for name, items in domains.items():
        dl = _batches_of(learn, name, items)
        with learn.no_bar():
            _, accuracy = learn.validate(dl=dl)
        rows.append({"domain": name, "images": len(dl.dataset), "accuracy": float(accuracy)})
    return pd.DataFrame(rows).set_index("domain")


def domain_features(learn, domains: dict) -> tuple[np.ndarray, np.ndarray]:
    """The features CORAL and DANN align (the input of the model's last Linear layer) for
    every image of several domains, and each row's domain name: what a feature scatter and
    `domain_separability` read. `domains` as for `domain_accuracy`."""
    layer = _feature_layer(learn.model)
    chunks, names = [], []
    # float(): under bfloat16 autocast the layer's input is bfloat16, which numpy cannot hold
    hook = layer.register_forward_hook(lambda module, inputs, output: chunks.append(inputs[0].detach().float().cpu()))
    try:
        for name, items in domains.items():
            dl = _batches_of(learn, name, items)
            before = len(chunks)
            with learn.no_bar():
                learn.get_preds(dl=dl)
            names += [name] * sum(len(c) for c in chunks[before:])
    finally:
        hook.remove()
    return torch.cat(chunks).numpy(), np.array(names)


def domain_separability(features: np.ndarray, domains: np.ndarray, seed: int = 0) -> float:
    """How well a linear classifier tells the domains apart from these features: accuracy on
    a held-out half (0.5 for two balanced domains that look alike, 1.0 for ones that never
    overlap). The idea behind Ben-David et al.'s proxy A-distance; DANN's domain classifier
    is the same question asked during training. Introduced in notebook 04."""
    from sklearn.model_selection import train_test_split
    if len(set(domains)) < 2:
        raise ValueError("Need features from at least two domains.")
    # The same probe as notebook 01's, with the domain as the label and a stratified half held out.
    _, held_out = train_test_split(np.arange(len(domains)), test_size=0.5, random_state=seed, stratify=domains)
    table = pd.DataFrame({"label": domains, "is_valid": np.isin(np.arange(len(domains)), held_out)})
    return linear_probe(features, table, method="domain probe")["accuracy"]


def target_batches(dls, items: pd.DataFrame, bs: int | None = None):
    """Unlabelled batches of target images, shuffled, preprocessed like the source's validation
    images (same size, same normalisation, no augmentation): what AdaBN, CORAL and DANN read.
    Labels in `items` are ignored."""
    bs = bs or dls.bs
    return dls.test_dl(items, with_labels=False, shuffle=True, drop_last=len(items) >= bs, bs=bs)


def adaptation_row(learn, method: str, seed: int, domains: dict, seconds: float, target: str = "target") -> dict:
    """One result row for a comparison over seeds (`evaluate.seed_table`): `accuracy` is the
    accuracy on the `target` domain; every domain's accuracy is kept too (notebook 04)."""
    accuracy = domain_accuracy(learn, domains)["accuracy"]
    if target not in accuracy:
        raise ValueError(f"No domain named {target!r} among {list(accuracy.index)}.")
    return {"method": method, "seed": seed, "accuracy": accuracy[target], "seconds": seconds,
            **{f"{name} accuracy": value for name, value in accuracy.items()}}


def severity_table(learn, items: pd.DataFrame, corruptions=FAST_CORRUPTIONS, severities=(1, 2, 3, 4, 5),
                   size: int = 32, seed: int = 0, adapt: bool = False) -> pd.DataFrame:
    """Accuracy on corrupted copies of `items`, one row per corruption and severity, with
    severity 0 the clean images: the table behind an ImageNet-C style severity curve.

    With `adapt=True` each set is scored twice: as the model stands ("source only") and with
    AdaBN's statistics measured on that set's own (unlabelled) images ("AdaBN"), the
    test-time adaptation of Schneider et al. 2020.
    """
    def score(shifted):
        accuracies = {"source only": float(domain_accuracy(learn, {"set": shifted})["accuracy"].iloc[0])}
        if adapt:
            with adabn(learn, target_batches(learn.dls, shifted)):
                accuracies["AdaBN"] = float(domain_accuracy(learn, {"set": shifted})["accuracy"].iloc[0])
        return accuracies

    rows = []
    clean = score(items)
    for corruption in corruptions:
        rows += [{"corruption": corruption, "severity": 0, "method": m, "accuracy": a} for m, a in clean.items()]
        for severity in severities:
            shifted = corrupt_items(items, corruption, severity, size=size, seed=seed)
            rows += [{"corruption": corruption, "severity": severity, "method": m, "accuracy": a}
                     for m, a in score(shifted).items()]
    table = pd.DataFrame(rows)
    table["method"] = pd.Categorical(table["method"], ["source only", "AdaBN"])  # the baseline first
    table = table.sort_values(["method", "corruption", "severity"], kind="stable").reset_index(drop=True)
    table["method"] = table["method"].astype(str)
    return table


# --------------------------------------------------------------------------- AdaBN

def _batchnorms(model: nn.Module) -> list:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
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
        with torch.no_grad(), autocast("inference"):   # the precision validation will run in
            for i, (xb, *_) in enumerate(target_dl):
                if batches is not None and i >= batches:
                    break
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

def few_shot_learner(learn, target_items: pd.DataFrame, k: int, valid_per_class: int, size: int,
                     seed: int = 0) -> Learner:
    """A copy of a source-trained learner's whole model (its head included: the classes are
    the same), on k labelled target images per class, validated on the target's held-out
    images. Train it with `training.train_all`. The held-out images are the ones
    `data.split_items(target_items, valid_per_class=..., seed=...)` holds out for any k, so
    every method is scored on the same target images.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1 labelled image per class, got {k}.")
    items = split_items(target_items, n_per_class=k, valid_per_class=valid_per_class, seed=seed)
    n_train = int((~items["is_valid"]).sum())
    dls = dls_from_items(items, size=size, seed=seed, bs=min(learn.dls.bs, n_train))
    if list(dls.vocab) != list(learn.dls.vocab):
        raise ValueError(f"The target's classes {list(dls.vocab)} differ from the source's {list(learn.dls.vocab)}.")
    # The source's input normalisation, so the copied model sees inputs scaled as before.
    dls.add_tfms([t for t in learn.dls.after_batch.fs if isinstance(t, Normalize)], "after_batch")
    return Learner(dls, copy.deepcopy(learn.model), loss_func=learn.loss_func, metrics=learn.metrics,
                   splitter=learn.splitter, path=learn.path, model_dir=learn.model_dir, cbs=[Precision()])


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

    def __init__(self, strength: float = 1.0):
        super().__init__()
        self.strength = strength

    def forward(self, x):
        return _ReverseGradient.apply(x, self.strength)


def _feature_layer(model: nn.Module) -> nn.Linear:
    # The features both methods align: the input of the model's last Linear layer (the head's
    # hidden layer in a fastai head), so they can move even while the body is frozen.
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("Domain alignment needs a model that ends in a Linear layer.")
    return linears[-1]


class _TargetBatches(Callback):
    """Shared by CORAL and DANN: each training batch carries an unlabelled target batch of the
    same size, both go through the model together, and the features of each half are kept."""
    order = 5   # before the loss is computed, so the source predictions alone meet the labels

    def __init__(self, target_dl, weight: float):
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}.")
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
        self._hook = _feature_layer(self.learn.model).register_forward_hook(
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

    def __init__(self, target_dl, weight: float = 1.0, layer: str = "features"):
        if layer not in ("features", "outputs"):
            raise ValueError(f"layer must be 'features' or 'outputs', got {layer!r}.")
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

    def __init__(self, target_dl, weight: float = 1.0, hidden: int = 64, lr: float = 1e-3):
        super().__init__(target_dl, weight)
        self.hidden, self.lr = hidden, lr
        self.reversal = GradientReversal(0.0)
        self.domain_accuracy = []   # how well the domain classifier did, per step

    def before_fit(self):
        super().before_fit()
        if not hasattr(self, "classifier"):
            width = _feature_layer(self.learn.model).in_features
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
