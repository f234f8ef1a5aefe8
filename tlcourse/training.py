"""The training schedules the course teaches, as thin, readable wrappers on fastai.

Each function seeds, trains, and returns one result row (method, accuracy,
seconds) so notebooks can put methods side by side. Progress bars show in
JupyterLab; unattended runs (`TLCOURSE_PROGRESS=0`) train silently and the
notebook prints the results as text, which nbval can compare.
Introduced in notebook 00; later notebooks add to it.

Not about: building learners (models.py) or plotting (plots.py).
"""
from __future__ import annotations

import contextlib
import random

import pandas as pd
import torch

import fastai.callback.progress  # noqa: F401  (adds the progress bar and `Learner.no_bar`)
import fastai.callback.schedule  # noqa: F401  (adds `fit_one_cycle`, `fine_tune`, `lr_find`)
from fastai.callback.core import Callback, CancelValidException, TrainEvalCallback
from fastai.learner import Learner
from fastai.torch_core import set_seed
from torch import nn

from . import runtime
from .checks import EPOCHS, OPTIONAL_SEED, RATE, RATES, TITLE, checked, number, whole
from .runtime import SHOW_PROGRESS, Timer


@contextlib.contextmanager
def _maybe_quiet(learn: Learner):
    if SHOW_PROGRESS:
        yield
    else:  # no bar, and no per-epoch lines (they carry timings)
        with learn.no_bar(), learn.no_logging():
            yield


@checked(method=TITLE, seconds=number(0))
def result_row(learn: Learner, method: str, seconds: float) -> dict:
    """Score a trained learner once on its validation set: one result row (method, accuracy,
    valid_loss, seconds), like every training function's (notebook 01)."""
    # fastai's validate() starts a fit of its own, which empties the recorder; what the training
    # recorded (per-epoch losses for `epoch_table`, the rates for plots) is put back after it.
    recorder = getattr(learn, "recorder", None)
    # (vars(): a fastai callback passes unknown attributes on to its learner)
    kept = {name: value for name, value in vars(recorder).items()
            if name in ("lrs", "iters", "losses", "values", "metric_names")} if recorder is not None else {}
    with learn.no_bar():  # one bar per training run is enough
        loss, accuracy = learn.validate()
    for name, value in kept.items():
        setattr(recorder, name, value)
    return {"method": method, "accuracy": float(accuracy), "valid_loss": float(loss), "seconds": seconds}


def seeded(learn: Learner, seed: int | None) -> Learner:
    """The learner with a `Seeded` callback set to `seed` (added if the learner has none; None
    keeps the seed it was made with, or 0)."""
    found = [cb for cb in learn.cbs if isinstance(cb, Seeded)]
    if not found:
        learn.add_cb(Seeded(0 if seed is None else seed))
    elif seed is not None:
        found[0].seed = seed
    return learn


def epoch_table(learn: Learner) -> pd.DataFrame:
    """The last fit's losses and metrics, one row per epoch, from fastai's recorder (notebook 01).

    What fastai prints after each epoch, without the wall time (which changes every run);
    unattended runs print this instead of fastai's live table. A loss or metric that was not
    computed in an epoch (validation skipped) is left empty."""
    recorder = getattr(learn, "recorder", None)
    if recorder is None or not vars(recorder).get("values"):
        raise ValueError("This learner has not finished an epoch yet: call learn.fit_one_cycle(...) first.")
    names = [name for name in recorder.metric_names[1:] if name != "time"]
    rows = [list(values)[:len(names)] + [None] * (len(names) - len(values)) for values in recorder.values]
    table = pd.DataFrame(rows, columns=names, dtype=float)
    table.index = pd.RangeIndex(len(table), name="epoch")
    return table


def quiet_when_unattended(learn: Learner) -> Learner:
    """In an unattended run (`TLCOURSE_PROGRESS=0`) the learner's plain fastai calls
    (`learn.fit_one_cycle`, `learn.fine_tune`) draw no progress bar and print no per-epoch lines
    (they carry timings, which nbval cannot replay); `epoch_table` shows the losses instead.
    In JupyterLab nothing changes. Every learner the course builds goes through it."""
    if not SHOW_PROGRESS:
        from fastai.callback.progress import ProgressCallback
        from fastcore.basics import noop
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
        learn.logger = noop
    return learn


ONE_CYCLE = dict(epochs=EPOCHS, lr=RATES, seed=OPTIONAL_SEED, method=TITLE)


@checked(**ONE_CYCLE)
def one_cycle(learn: Learner, epochs: int, lr, seed: int | None = None, method: str = "one-cycle",
              **fit_kwargs) -> dict:
    """fastai's `fit_one_cycle` on the layers the learner trains now, seeded, timed, and scored
    once at the end: one result row (notebook 00 defines one-cycle; notebook 03 uses it stage by
    stage). `fit_kwargs` go to `fit_one_cycle` (e.g. `pct_start`, `div`, as fastai's `fine_tune` sets them)."""
    seeded(learn, seed)
    with Timer() as t, _maybe_quiet(learn):
        learn.fit_one_cycle(epochs, lr, **fit_kwargs)
    return result_row(learn, method, t.seconds)


@checked(**ONE_CYCLE)
def train_all(learn: Learner, epochs: int, lr=1e-2, seed: int | None = None, method: str = "all layers",
              **fit_kwargs) -> dict:
    """Unfreeze and train every layer with one-cycle (notebook 02). With `lr=slice(lo, hi)`
    the first layer group gets `lo`, the head `hi`, and the groups between rates spaced
    geometrically between them."""
    learn.unfreeze()
    return one_cycle(learn, epochs, lr, seed, method, **fit_kwargs)


@checked(**ONE_CYCLE)
def train_from_scratch(learn: Learner, epochs: int, lr: float = 1e-2, seed: int | None = None,
                       method: str = "from scratch") -> dict:
    """Train every layer (from random weights) with one-cycle (notebook 00)."""
    return train_all(learn, epochs, lr, seed, method)


@checked(**ONE_CYCLE)
def train_head(learn: Learner, epochs: int, lr: float = 1e-2, seed: int | None = None,
               method: str = "head only") -> dict:
    """Keep the body frozen and train only the new head (feature extraction, notebook 00)."""
    learn.freeze()
    return one_cycle(learn, epochs, lr, seed, method)


@checked(epochs=EPOCHS, base_lr=RATE, freeze_epochs=whole(0, hint="epochs with the body frozen"),
         seed=OPTIONAL_SEED, method=TITLE)
def fine_tune(learn: Learner, epochs: int, base_lr: float = 2e-3, freeze_epochs: int = 1,
              seed: int | None = None, method: str = "fine-tune") -> dict:
    """fastai's recipe: train the head with the body frozen, then unfreeze and train all
    layers with smaller rates for the early groups (notebook 00)."""
    seeded(learn, seed)
    with Timer() as t, _maybe_quiet(learn):
        learn.fine_tune(epochs, base_lr, freeze_epochs=freeze_epochs)
    return result_row(learn, method, t.seconds)


@checked(steps=whole(1, hint="optimizer steps"))
def epochs_for_steps(dls, steps: int) -> int:
    """The number of epochs that comes closest to `steps` optimizer steps (at least one): how
    notebook 02 gives every method that trains the same budget, whatever the number of labels."""
    per_epoch = len(dls.train)
    if per_epoch == 0:
        raise ValueError(f"The training DataLoader yields no full batch ({len(dls.train_ds)} images, "
                         f"batch size {dls.train.bs}): use a smaller batch size or more images.")
    return max(1, round(steps / per_epoch))


class Seeded(Callback):
    """Seeds every fit of a learner, and every epoch again, from the learner's own seed.

    Why each epoch: any pass over a DataLoader, validation included, draws from torch's
    random generator, so without it the dropout and augmentations of epoch 2 would depend on
    whether epoch 1 was validated, and a model trained after a feature extraction would not
    match one trained before it. With it, what a learner scores depends on its seed, the
    data and the schedule only. The training DataLoader's shuffling is reset too. Every
    learner the course builds has it (`models.create_learner(seed=...)`; notebook 00).
    """
    order = -20   # before anything else draws a random number

    def __init__(self, seed: int = 0):
        self.seed = seed

    def before_fit(self):
        set_seed(self.seed, reproducible=True)
        train = getattr(self.dls, "train", None)
        if hasattr(train, "rng"):
            train.rng = random.Random(self.seed)   # fastai's shuffling draws from the DataLoader's own rng

    def before_train(self):
        set_seed(self.seed * 1000 + self.epoch, reproducible=True)   # distinct for every (seed, epoch < 1000)


class Precision(Callback):
    """Forward passes and losses under the course's precision policy (`runtime.autocast`); every
    learner the course builds has it (notebook 00).

    fastai's own `MixedPrecision` drives CUDA's autocast only. Here each batch runs as
    "inference" when validating or predicting, and when training as "conv training" if any
    convolution's weights learn, else as "training" (a head, BatchNorm layers, a transformer):
    under `auto` on a CPU with native bfloat16, only training convolutions stays float32,
    where bfloat16 measured slower. Autocast covers the forward pass (whose operations run
    their backward in the same precision); predictions are handed back in float32, so losses,
    metrics and `get_preds` see float32 as before.
    """
    # As fastai's MixedPrecision. Callbacks of a lower order (BnFreeze, L2SP, shift's CORAL and
    # DANN) see the batch first and the predictions still in bfloat16, so they cast what they keep.
    order = 10

    def _leave(self):
        runtime.close_autocast()   # also closes one a run stopped mid-batch left open

    def before_fit(self):
        self._leave()
        convs = (m for m in self.learn.model.modules() if isinstance(m, nn.modules.conv._ConvNd))
        trains_convs = any(p.requires_grad for m in convs for p in m.parameters(recurse=False))
        self.train_work = "conv training" if trains_convs else "training"

    def before_batch(self):
        training = getattr(self.learn, "training", False) and getattr(self, "train_work", None) is not None
        runtime.open_autocast(self.train_work if training else "inference")

    def after_pred(self):
        # The loss, metrics and any callback's extra loss are computed in float32 outside
        # autocast, and so is the backward pass, as torch recommends.
        self._leave()
        if isinstance(self.learn.pred, torch.Tensor) and self.learn.pred.is_floating_point():
            self.learn.pred = self.learn.pred.float()

    after_cancel_batch = after_batch = after_fit = after_cancel_fit = _leave


class BatchNormInference(Callback):
    """Keras's rule for the BatchNorm layers of a pretrained body: they stay in inference mode
    while the model trains, before and after unfreezing (notebook 02).

    In inference mode a BatchNorm layer normalises with the running statistics it brought from
    ImageNet and never updates them; once the body is unfrozen its scale and shift still learn.
    That is Keras's fine-tuning guide: call the base model with `training=False`, then set
    `trainable = True`. fastai's `BnFreeze` does this only for BatchNorm layers that do not
    learn, so after `unfreeze()` it changes nothing. `models.create_learner(train_bn=False)`
    adds this callback; the head's own BatchNorm layers train as usual.
    """
    run_after = TrainEvalCallback   # which puts the whole model in training mode first

    def before_train(self):
        body = self.learn.model[0]
        for module in body.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                module.eval()


class SkipValidation(Callback):
    """Skip the validation passes that follow each training epoch inside `fit` (notebook 03).

    An ablation compares only final accuracies, and on a small training set validating after
    each epoch can cost as much as the training itself. The `training` functions score the
    model once when fit ends, so every pass inside `fit` can go; `learn.validate()` is never
    affected, and neither is what the model learns (`Seeded` reseeds every epoch).
    """
    order = 75  # after the progress bar (60) has opened its validation bar, so it can close it

    def after_train(self):
        self._fitting = True

    def before_validate(self):
        if getattr(self, "_fitting", False):
            raise CancelValidException()

    def after_validate(self):
        self._fitting = False


@checked(num_it=whole(2, hint="iterations"), seed=OPTIONAL_SEED, start_lr=RATE, end_lr=RATE)
def find_lr(learn: Learner, num_it: int = 50, seed: int | None = None, start_lr: float = 1e-7,
            end_lr: float = 10) -> dict[str, float]:
    """fastai's learning-rate finder: a short run with the rate growing exponentially,
    the weights restored afterwards (notebook 02).

    Returns fastai's two most used suggestions: "valley" (the middle of the longest
    stretch where the loss falls) and "minimum" (a tenth of the rate at the lowest loss).
    The losses stay in `learn.recorder` for `plots.lr_find`. A higher `start_lr` spends
    fewer iterations on rates too small to change anything.
    """
    from fastai.callback.schedule import minimum, valley
    seeded(learn, seed)
    with _maybe_quiet(learn):
        suggestions = learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=num_it, show_plot=False, suggest_funcs=(valley, minimum))
    return {name: float(value) for name, value in suggestions._asdict().items()}
