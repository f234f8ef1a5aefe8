"""Layer-wise fine-tuning: discriminative learning rates, gradual unfreezing, L2-SP.

The three ideas all treat the layer groups of a pretrained body differently from the
new head: smaller rates for early groups (Howard & Ruder 2018), unfreezing one group
at a time, last group first (ULMFiT), and pulling the body back toward its pretrained
weights with a penalty (L2-SP, Li et al. 2018). `ablation` trains them side by side,
over several seeds. Introduced in notebook 03.

Not about: the basic schedules (training.py) or building learners (models.py).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.callback.schedule import combined_cos
from fastai.learner import Learner
from fastcore.basics import even_mults

from . import training
from .checks import EPOCHS, OPTIONAL_SEED, RATE, RATES, SEED, TITLE, checked, number, whole
from .models import trainable_parameters
from .runtime import format_seconds


@checked(lo=RATE, hi=RATE, n_groups=whole(1, hint="layer groups"))
def discriminative_lrs(lo: float, hi: float, n_groups: int) -> list[float]:
    """The rates `slice(lo, hi)` gives `n_groups` groups: `lo` for the first, `hi` for the
    head, geometrically spaced between (fastcore's `even_mults`, which fastai uses)."""
    if not 0 < lo <= hi:
        raise ValueError(f"Need 0 < lo <= hi for discriminative rates, got lo={lo}, hi={hi}.")
    return list(np.atleast_1d(even_mults(lo, hi, n_groups)))


def group_lrs(learn: Learner, lr) -> np.ndarray:
    """The rate each layer group gets from `lr` as `fit_one_cycle` reads it: one number for
    every group, a slice spread geometrically (the head gets its end), or one rate per
    group, first group first (notebook 03). fastai's optimizer applies its own rule and the
    learner's rates are put back as they were."""
    if learn.opt is None:
        learn.create_opt()
    kept = [hypers["lr"] for hypers in learn.opt.hypers]
    try:
        learn.opt.set_hyper("lr", lr)
        rates = np.array([hypers["lr"] for hypers in learn.opt.hypers], dtype=float)
    except AssertionError:   # fastai's message when the number of rates is wrong
        rates = None
    finally:
        learn.opt._set_hyper("lr", kept)
    if rates is None or not np.all(rates > 0):
        raise ValueError(f"lr={lr!r}: give one positive rate, a slice, or {len(kept)} positive rates "
                         f"(one per layer group, the first group first).")
    return rates


def group_table(learn: Learner, group_names=None) -> pd.DataFrame:
    """One row per layer group: its name, the body's layers in it, its parameter count,
    whether it trains (more than its BatchNorm layers, which fastai trains even in frozen
    groups) and the rate the optimizer holds for it now (notebook 03)."""
    if learn.opt is None:
        learn.create_opt()
    groups = learn.splitter(learn.model)
    names = group_names or [f"group {i}" for i in range(len(groups))]
    # Name each group by the body's children whose weights it holds (the head is the model's
    # model's head), so the table shows where the splitter cuts.
    owner = {id(p): name for name, child in learn.model.body.named_children() for p in child.parameters()}
    owner.update({id(p): "head" for p in learn.model.head.parameters()})
    return pd.DataFrame([{"group": name, "layers": ", ".join(dict.fromkeys(owner[id(p)] for p in group)),
                          "parameters": trainable_parameters(group).total,
                          "trains": _trains(learn, group), "lr": hypers["lr"]}
                         for name, group, hypers in zip(names, groups, learn.opt.hypers)])


def one_cycle_rates(lr_max: float, steps: int, pct_start: float = 0.25, div: float = 25.0,
                    div_final: float = 1e5) -> np.ndarray:
    """The learning rate at each step of fastai's one-cycle schedule: cosine warm-up from
    lr_max/div to lr_max over `pct_start` of the steps, then cosine down to lr_max/div_final."""
    schedule = combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final)
    return np.array([float(schedule(i / steps)) for i in range(steps)])


class GroupRates(Callback):
    """Records every layer group's learning rate at each training step (fastai's Recorder
    keeps only the last group's), across all the fits of a learner (e.g. the stages of
    gradual unfreezing). A group that does not train in a fit is recorded as NaN: the
    optimizer still holds a rate for it, but nothing uses it."""
    order = 61  # after ParamScheduler (60) has set this step's rates, whichever was added first

    def __init__(self):
        self.rates = []

    def before_fit(self):
        self._trains = [_trains(self.learn, group) for group in self.learn.splitter(self.learn.model)]

    def before_batch(self):
        if self.training:
            self.rates.append([h["lr"] if trains else np.nan for h, trains in zip(self.opt.hypers, self._trains)])


@checked(epochs_per_stage=EPOCHS, lr=RATES, seed=OPTIONAL_SEED, method=TITLE, extra=whole(0))
def gradual_unfreeze(learn: Learner, epochs_per_stage: int, lr, seed: int | None = None,
                     method: str = "gradual unfreezing", extra: int = 0) -> list[dict]:
    """ULMFiT's gradual unfreezing: stage k trains the last k layer groups (head first, then
    one more group per stage) with one-cycle. One result row per stage, with the number of
    groups that trained. `extra` epochs go one each to the last stages (so any number of
    epochs can be split)."""
    n_groups = len(learn.splitter(learn.model))
    if not 0 <= extra < n_groups:
        raise ValueError(f"extra={extra}: give between 0 and {n_groups - 1} extra epochs.")
    rows = []
    for stage in range(1, n_groups + 1):
        learn.freeze_to(-stage)
        trainable = sum(_trains(learn, g) for g in learn.splitter(learn.model))
        epochs = epochs_per_stage + (stage > n_groups - extra)
        result = training.one_cycle(learn, epochs, lr, seed, f"{method}, stage {stage}")
        rows.append({**result, "stage": stage, "trainable_groups": trainable, "epochs": epochs})
    return rows


def _trains(learn: Learner, group) -> bool:
    # With train_bn=True a frozen group still trains its BatchNorm layers; that does not
    # count as unfrozen.
    bn = {id(p) for m in learn.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
          for p in m.parameters()}
    return any(p.requires_grad and id(p) not in bn for p in group)


ALPHA = number(0, hint="L2-SP's strength; 0 only measures the drift")


class L2SP(Callback):
    """L2-SP (Li et al. 2018): add alpha * ||theta - theta_s||^2 over the body's weights to the
    training loss, theta_s being the body's weights when the callback is made (the pretrained
    ones). Records the distance ||theta - theta_s|| after every step in `distances`, so a run
    with alpha=0 measures how far plain fine-tuning drifts."""
    order = 5

    @checked(alpha=ALPHA)
    def __init__(self, body: torch.nn.Module, alpha: float = 0.01):
        self.alpha, self.body = alpha, body
        self.start = [p.detach().clone() for p in body.parameters()]
        self.distances = []

    def penalty(self) -> torch.Tensor:
        return sum(((p - s) ** 2).sum() for p, s in zip(self.body.parameters(), self.start))

    def after_loss(self):
        if self.training and self.alpha > 0:
            self.learn.loss_grad = self.learn.loss_grad + self.alpha * self.penalty()

    def after_step(self):
        with torch.no_grad():
            self.distances.append(float(self.penalty().sqrt()))


ABLATION_SETTINGS = {"lr", "alpha", "gradual", "head_only"}


@checked(epochs=EPOCHS)
def ablation(make_learner, settings: dict, epochs: int, seeds) -> list[dict]:
    """Train a fresh learner per method and seed, the same number of epochs for all (notebook 03).

    `make_learner(seed)` builds one learner (e.g. `lambda seed: create_learner(dls, seed=seed)`).
    `settings` maps a method's name to what sets it apart: "lr" (a rate, or a slice for
    discriminative rates), "alpha" (L2-SP strength, 0 = off), "gradual" (unfreeze one group
    per stage, `epochs` split evenly between the stages), "head_only" (the body stays frozen).
    Every run carries an L2SP callback (alpha 0 unless set) and GroupRates, so each row also
    holds the body's distance from its pretrained weights after every step (`distances`), the
    rates each group got (`rates`, steps x groups), the trained `learner` and, for gradual
    unfreezing, its `stages`. Validation runs once, when each run has trained.
    """
    for method, setting in settings.items():
        if not isinstance(setting, dict):
            raise TypeError(f"Method {method!r}: its setting must be a dict such as {{'lr': 1e-3}}, got {setting!r}.")
        unknown = set(setting) - ABLATION_SETTINGS
        if unknown or "lr" not in setting:
            raise ValueError(f"Method {method!r}: settings need 'lr' and may have "
                             f"{sorted(ABLATION_SETTINGS - {'lr'})}; got {sorted(setting)}.")
    rows = []
    for seed in seeds:
        for method, setting in settings.items():
            learn = make_learner(seed)
            watch = watch_run(learn, alpha=setting.get("alpha", 0.0))
            learn.add_cb(training.SkipValidation())
            row = _train(learn, method, setting, epochs, seed)
            rows.append(run_row(learn, row, seed, *watch))
            # One line per run, so a learner sees the ablation advance (and nbval can compare it).
            print(f"{method:<32} seed {seed}: accuracy {row['accuracy']:.3f} ({format_seconds(row['seconds'])})")
    return rows


@checked(alpha=ALPHA)
def watch_run(learn: Learner, alpha: float = 0.0) -> tuple[L2SP, GroupRates]:
    """Add the two callbacks every run of notebook 03 carries and return them: `L2SP` (with
    alpha 0 it only measures how far the body moves) and `GroupRates` (each group's rate at
    each step). Neither changes what the model learns unless alpha > 0."""
    drift, rates = L2SP(learn.model.body, alpha=alpha), GroupRates()
    learn.add_cbs([drift, rates])
    return drift, rates


@checked(seed=SEED)
def run_row(learn: Learner, row: dict, seed: int, drift: L2SP, rates: GroupRates) -> dict:
    """One run's row as `ablation` makes it: its result row (a `training` function's, or
    `training.result_row` after a plain fastai fit), the seed, what `watch_run`'s callbacks
    recorded and the trained learner."""
    return {**row, "seed": seed, "distances": drift.distances, "rates": np.array(rates.rates), "learner": learn}


def _train(learn: Learner, method: str, setting: dict, epochs: int, seed: int) -> dict:
    lr = setting["lr"]
    if setting.get("head_only"):
        return training.train_head(learn, epochs, lr, seed, method)
    if setting.get("gradual"):
        n_groups = len(learn.splitter(learn.model))
        if epochs < n_groups:
            raise ValueError(f"Gradual unfreezing needs at least one epoch per stage: {epochs} epochs "
                             f"for {n_groups} groups; use epochs >= {n_groups}.")
        stages = gradual_unfreeze(learn, epochs // n_groups, lr, seed, method,
                                  extra=epochs % n_groups)
        return {**stages[-1], "method": method, "seconds": sum(s["seconds"] for s in stages),
                "stages": stages}
    return training.train_all(learn, epochs, lr, seed, method)
