"""Self-checks for the exercises of notebooks 03, 04 and 05 (see the package's docstring)."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..adapt import coral_loss
from ..checks import ACCURACY, checked
from ..layerwise import L2SP
from ..text import nearest_by_cosine
from .verdict import Verdict, attempt, check_prediction, close


# --------------------------------------------------------------------------- notebook 03

@checked(one_rate=ACCURACY, body10=ACCURACY)
def check_one_rate_training(prediction, one_rate: float, body10: float) -> Verdict:
    """Exercise 03.1 (predict, then measure): the one-rate model's accuracy on its own training
    images against the "body ÷10" model's on the same images."""
    return check_prediction(
        prediction, one_rate, body10, "the accuracy on the training tiles, one rate against body ÷10",
        why="A model that over-fits scores high on its training images and low on new ones. A model whose "
            "pretrained features were wrecked by large steps cannot fit even its training images in the "
            "steps it has left: it has to learn from 20 images per class what the body knew before. The "
            "second story is what discriminative rates guard against.")


def _small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def check_l2sp(penalty) -> Verdict:
    """Exercise 03.2: `penalty(model, start, alpha)`, the L2-SP term that `layerwise.L2SP` adds
    to the loss (`start`: the model's parameters as they were before fine-tuning)."""
    hint = "alpha * the sum over parameters of ((p - p0) ** 2).sum(): a tensor that gradients flow through."
    model, alpha = _small_model(), 0.1
    start = [p.detach().clone() for p in model.parameters()]
    reference = L2SP(model, alpha)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    value, verdict = attempt(penalty, hint, model, start, alpha)
    if verdict is not None:
        return verdict
    truth = float(alpha * reference.penalty().detach())
    if not torch.is_tensor(value) or not value.requires_grad:
        return Verdict(False, "Return a tensor that still carries gradients (no .item(), no torch.no_grad), "
                              "or the penalty cannot pull the weights back.")
    got = float(value.detach()) if torch.is_tensor(value) else float(value)
    if close(got, truth):
        return Verdict(True, f"{got:.4f} for this perturbed model, the same as layerwise.L2SP's term.")
    if close(got, truth / alpha):
        return Verdict(False, "Multiply by alpha: it sets how hard the weights are pulled back.")
    if close(got, truth / 2):
        return Verdict(False, "Half the term: layerwise.L2SP uses alpha * squared distance, without 1/2.")
    if close(got, alpha * math.sqrt(truth / alpha)):
        return Verdict(False, "That is alpha times the distance; L2-SP uses the squared distance.")
    return Verdict(False, f"Your penalty gives {got:.4f}. Hint: {hint}")


# --------------------------------------------------------------------------- notebook 04

@checked(ten=ACCURACY, pool=ACCURACY)
def check_adabn_few_digits(prediction, ten: float, pool: float) -> Verdict:
    """Exercise 04.3 (predict, then measure): AdaBN's target accuracy with statistics measured on
    four unlabelled target digits, against the same with the whole unlabelled pool."""
    return check_prediction(
        prediction, ten, pool, "the target accuracy after AdaBN on four digits against the whole pool",
        why="BatchNorm's statistics are a mean and a variance per channel; from four images they are noisy "
            "estimates, and every layer after the first sees inputs normalised by the wrong amount. AdaBN is "
            "cheap, but it needs enough unlabelled target images to measure the target's statistics well "
            "(Schneider et al. 2020 measured how many on ImageNet-C).")


def check_coral(coral) -> Verdict:
    """Exercise 04.1: `coral(source, target)` on two (batch, features) tensors, as `adapt.coral_loss`."""
    hint = ("the squared Frobenius distance between the two feature covariances (torch.cov(x.T)), "
            "divided by 4 d^2 for d features.")
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(32, 5, generator=generator)
    target = 2 * torch.randn(24, 5, generator=generator) + 1
    value, verdict = attempt(coral, hint, source, target)
    if verdict is not None:
        return verdict
    truth = float(coral_loss(source, target))
    got = float(value.detach()) if torch.is_tensor(value) else float(value)
    if close(got, truth):
        return Verdict(True, f"{got:.4f} on two test batches, the same as adapt.coral_loss.")
    if close(got, truth * 4 * 25):
        return Verdict(False, "Divide by 4 d^2 (d = number of features), so the loss does not grow with the "
                              "feature width.")
    biased = ((torch.cov(source.T, correction=0) - torch.cov(target.T, correction=0)) ** 2).sum() / 100
    if close(got, float(biased)):
        return Verdict(False, "Your covariances divide by n; Deep CORAL's (and torch.cov's default) divide "
                              "by n - 1.")
    if close(got, math.sqrt(truth * 100) / 100):
        return Verdict(False, "Square the Frobenius norm. " + hint)
    return Verdict(False, f"Your loss gives {got:.4f}. Hint: {hint}")


def check_reversal(reverse) -> Verdict:
    """Exercise 04.2: `reverse(x, strength)`: identity forward, gradient times -strength backward."""
    hint = ("a torch.autograd.Function whose forward returns x.view_as(x) and whose backward returns "
            "(-strength * grad, None); call it with .apply(x, strength).")
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=generator, requires_grad=True)
    upstream = torch.randn(4, 3, generator=generator)
    y, verdict = attempt(reverse, hint, x, 0.5)
    if verdict is not None:
        return verdict
    try:
        y.backward(upstream)
    except Exception as error:   # the learner's code: report any failure as a hint
        return Verdict(False, f"The backward pass failed with {type(error).__name__}: {error}. Hint: {hint}")
    if not torch.equal(y.detach(), x.detach()):
        return Verdict(False, "The forward pass must return x unchanged: the reversal acts on gradients only.")
    grad = x.grad
    if close(grad, -0.5 * upstream):
        return Verdict(True, "Forward: x unchanged. Backward: the gradient times -0.5. The layers before it "
                             "now learn to confuse the domain classifier after it.")
    if close(grad, upstream):
        return Verdict(False, "The gradient comes back unchanged: backward must flip its sign and scale it.")
    if close(grad, -upstream):
        return Verdict(False, "The sign flips, but strength is ignored: multiply by -strength.")
    if close(grad, 0.5 * upstream):
        return Verdict(False, "Scaled, but not reversed: multiply by -strength, not strength.")
    return Verdict(False, hint)


# --------------------------------------------------------------------------- notebook 05

@checked(low_agreement=ACCURACY, high_agreement=ACCURACY)
def check_agreement(prediction, low_agreement: float, high_agreement: float) -> Verdict:
    """Exercise 05.1 (predict, then measure): the probe's accuracy on held-out tweets whose graders
    agreed less than 70 % of the time, against the tweets they agreed on."""
    return check_prediction(
        prediction, low_agreement, high_agreement,
        "the probe on tweets the graders disagreed on, against those they agreed on",
        why="Where people disagree, another grader might well have given another label, and such tweets are often "
            "ambiguous in themselves: no model can agree with their labels as often as with clear ones. An "
            "accuracy on such tweets measures the labels as much as the model.")


def check_zero_shot(function) -> Verdict:
    """Exercise 05.2: `zero_shot(embedded, described)`, for each tweet the index of the most similar
    description by cosine similarity, as `text.zero_shot` does."""
    hint = ("divide each row of both arrays by its length (np.linalg.norm(..., axis=1, keepdims=True)); "
            "embedded @ described.T is then a table of cosines, one row per tweet; argmax(axis=1).")
    rng = np.random.default_rng(5)
    described = rng.normal(size=(3, 4)) * np.array([[0.5], [1.0], [3.0]])   # lengths that differ
    tweets = rng.normal(size=(8, 4))
    value, verdict = attempt(function, hint, tweets.copy(), described.copy())
    if verdict is not None:
        return verdict
    value = np.asarray(value)
    if value.shape != (len(tweets),):
        return Verdict(False, f"One class index per tweet: expected shape ({len(tweets)},), got {value.shape}. "
                              "Take the argmax along each tweet's row (axis=1).")
    truth = nearest_by_cosine(tweets, described)
    if np.array_equal(value, truth):
        return Verdict(True, "Each tweet goes to the description it points most nearly the same way as. "
                             "Nothing was trained: the encoder's sense of meaning does all the work.")
    if np.array_equal(value, (tweets @ described.T).argmax(axis=1)):
        return Verdict(False, "That is the dot product: a long description vector wins too often. " + hint)
    return Verdict(False, hint)
