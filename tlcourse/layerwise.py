"""Layer-wise fine-tuning: discriminative learning rates, gradual unfreezing, L2-SP.

The three ideas all treat the layer groups of a pretrained body differently from the
new head: smaller rates for early groups (Howard & Ruder 2018), unfreezing one group
at a time, last group first (ULMFiT), and pulling the body back toward its pretrained
weights with a penalty (L2-SP, Li et al. 2018). Introduced in notebook 03; a step
toward it (the notebook itself is not written yet).

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


def discriminative_lrs(lo: float, hi: float, n_groups: int) -> list[float]:
    """The rates `slice(lo, hi)` gives `n_groups` groups: `lo` for the first, `hi` for the
    head, geometrically spaced between (fastcore's `even_mults`, which fastai uses)."""
    if not 0 < lo <= hi:
        raise ValueError(f"Need 0 < lo <= hi for discriminative rates, got lo={lo}, hi={hi}.")
    return list(np.atleast_1d(even_mults(lo, hi, n_groups)))


def group_table(learn: Learner, group_names=None) -> pd.DataFrame:
    """One row per layer group: its name, parameter count, whether it trains, and the rate
    the optimizer holds for it now."""
    if learn.opt is None:
        learn.create_opt()
    groups = learn.splitter(learn.model)
    names = group_names or [f"group {i}" for i in range(len(groups))]
    return pd.DataFrame([{"group": name, "parameters": sum(p.numel() for p in group),
                          "trains": any(p.requires_grad for p in group), "lr": hypers["lr"]}
                         for name, group, hypers in zip(names, groups, learn.opt.hypers)])


def one_cycle_rates(lr_max: float, steps: int, pct_start: float = 0.25, div: float = 25.0,
                    div_final: float = 1e5) -> np.ndarray:
    """The learning rate at each step of fastai's one-cycle schedule: cosine warm-up from
    lr_max/div to lr_max over `pct_start` of the steps, then cosine down to lr_max/div_final."""
    schedule = combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final)
    return np.array([float(schedule(i / steps)) for i in range(steps)])


class GroupRates(Callback):
    """Records every layer group's learning rate at each training step (fastai's Recorder
    keeps only the last group's)."""
    order = 60  # after ParamScheduler has set this step's rates

    def before_fit(self):
        self.rates = []

    def before_batch(self):
        if self.training:
            self.rates.append([h["lr"] for h in self.opt.hypers])


def gradual_unfreeze(learn: Learner, epochs_per_stage: int, lr, seed: int = 0,
                     method: str = "gradual unfreezing") -> list[dict]:
    """ULMFiT's gradual unfreezing: stage k trains the last k layer groups (head first, then
    one more group per stage) with one-cycle. One result row per stage, with the number of
    groups that trained."""
    n_groups = len(learn.splitter(learn.model))
    rows = []
    for stage in range(1, n_groups + 1):
        learn.freeze_to(-stage)
        trainable = sum(any(p.requires_grad for p in g) and not _only_bn(learn, g)
                        for g in learn.splitter(learn.model))
        result = training._one_cycle(learn, epochs_per_stage, lr, seed, f"{method}, stage {stage}")
        rows.append({**result, "stage": stage, "trainable_groups": trainable})
    return rows


def _only_bn(learn: Learner, group) -> bool:
    # With train_bn=True a frozen group still trains its BatchNorm layers; that does not
    # count as unfrozen.
    bn = {id(p) for m in learn.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
          for p in m.parameters()}
    return all(id(p) in bn for p in group if p.requires_grad)


class L2SP(Callback):
    """L2-SP (Li et al. 2018): add alpha * ||theta - theta_s||^2 over the body's weights to the
    training loss, theta_s being the body's weights when the callback is made (the pretrained
    ones). Records the distance ||theta - theta_s|| after every step in `distances`, so a run
    with alpha=0 measures how far plain fine-tuning drifts."""
    order = 5

    def __init__(self, body: torch.nn.Module, alpha: float = 0.01):
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}.")
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
