"""Self-checks for the exercises at the end of each notebook.

Each `check_...` function takes the learner's answer (a number, a table, a model or a
function they wrote) and returns a `Verdict`: right, or not yet with a hint that names
the likely mistake. The right answer is never stored here: each check works it out from
the same objects the learner used (their learner, their features, the library's own
implementation), so a check stays right when the notebook's parameters change.
Worked solutions: `solutions/`, one notebook per course notebook, executed and tested
like the course itself.

Not about: the course's measurements; see each notebook.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .features import _split, linear_probe, probe_estimator
from .layerwise import L2SP
from .shift import coral_loss
from .text import mean_pool


@dataclass
class Verdict:
    """What a check says: `right`, and a message (why it is right, or a hint)."""
    right: bool
    message: str

    def __bool__(self) -> bool:
        return self.right

    def __repr__(self) -> str:
        return ("✓ Right. " if self.right else "✗ Not yet. ") + self.message


def _unanswered(hint: str) -> Verdict:
    return Verdict(False, "Replace None with your answer, then run this cell again. Hint: " + hint)


def _run(function, hint: str, *args):
    """Call a function the learner wrote: (its value, None), or (None, a verdict) when it raised
    or still returns None."""
    try:
        value = function(*args)
    except Exception as error:   # the learner's code: report any failure as a hint
        return None, Verdict(False, f"Your function raised {type(error).__name__}: {error}. Hint: {hint}")
    return value, (_unanswered(hint) if value is None else None)


def _close(a, b, rtol: float = 1e-3, atol: float = 1e-6) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol))


def _count(parameters) -> int:
    return sum(p.numel() for p in parameters)


# --------------------------------------------------------------------------- notebook 00

def check_trainable(answer, learn) -> Verdict:
    """Exercise 00.1: how many parameters train while a learner's body is frozen?"""
    hint = "add up p.numel() for the parameters p of learn.model whose p.requires_grad is True."
    if answer is None:
        return _unanswered(hint)
    truth = _count(p for p in learn.model.parameters() if p.requires_grad)
    total = _count(learn.model.parameters())
    head = _count(learn.model[1].parameters())
    if not isinstance(answer, (int, np.integer)):
        return Verdict(False, f"Give a whole number (got {type(answer).__name__}). Hint: {hint}")
    if answer == truth:
        return Verdict(True, f"{truth:,} of the model's {total:,} parameters train while the body is frozen: "
                             f"the head's {head:,} and {truth - head:,} in the body's BatchNorm layers.")
    if answer == total:
        return Verdict(False, "That is every parameter. Freezing turns off requires_grad for the body's "
                              "weights: count only the parameters that still require gradients.")
    if answer == head:
        return Verdict(False, "That is the head alone. fastai keeps the frozen body's BatchNorm layers "
                              "training (train_bn=True), so their weights and biases count too.")
    return Verdict(False, f"{answer:,} is not the count. Hint: {hint}")


def check_new_head(model, source_body: nn.Module, classes: int, size: int) -> Verdict:
    """Exercise 00.2: the source's body (a copy) and a new head with one output per class."""
    hint = "nn.Sequential(copy.deepcopy(source_body), nn.Sequential(pooling, flatten, nn.Linear(channels, classes)))."
    if model is None:
        return _unanswered(hint)
    if not isinstance(model, nn.Sequential) or len(model) != 2:
        return Verdict(False, f"Make the model nn.Sequential(body, head), two parts. Hint: {hint}")
    body, head = model
    if body is source_body or any(p.data_ptr() == s.data_ptr() for p, s in
                                  zip(body.parameters(), source_body.parameters())):
        return Verdict(False, "Your body shares its weights with the source model: training the new model "
                              "would change the source model too. Copy it with copy.deepcopy(source_body).")
    mine, theirs = body.state_dict(), source_body.state_dict()
    if mine.keys() != theirs.keys() or not all(torch.equal(mine[k].cpu(), theirs[k].cpu()) for k in mine):
        return Verdict(False, "Your body's weights are not the source body's: start from a copy of the "
                              "trained body, not a new one.")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, 3, size, size, device=next(model.parameters()).device))
    except RuntimeError as error:
        return Verdict(False, f"The model fails on a batch of {size}x{size} images: {error}. Hint: {hint}")
    finally:
        model.train(was_training)
    if tuple(out.shape) != (2, classes):
        return Verdict(False, f"For 2 images your model gives shape {tuple(out.shape)}; it should give "
                              f"(2, {classes}): one score per target class. Hint: {hint}")
    return Verdict(True, f"The body is a copy of the source's ({_count(body.parameters()):,} parameters), "
                         f"the head is new ({_count(head.parameters()):,} parameters) with {classes} outputs.")


# --------------------------------------------------------------------------- notebook 01

def check_probe_c(answer, embeddings: np.ndarray, items: pd.DataFrame, candidates) -> Verdict:
    """Exercise 01.1: choose the linear probe's C by 5-fold cross-validation on the training rows."""
    from sklearn.model_selection import cross_val_score
    hint = ("for each C, cross_val_score(features.probe_estimator(C), x_train, y_train, cv=5).mean(); "
            "keep the C with the highest mean.")
    if answer is None:
        return _unanswered(hint)
    candidates = list(candidates)
    if answer not in candidates:
        return Verdict(False, f"Choose one of {candidates}.")
    x_train, y_train, _, _ = _split(np.asarray(embeddings), items)
    scores = {c: float(cross_val_score(probe_estimator(c), x_train, y_train, cv=5).mean()) for c in candidates}
    best = max(scores.values())
    table = ", ".join(f"C={c}: {s:.3f}" for c, s in scores.items())
    if scores[answer] >= best - 1e-12:
        return Verdict(True, f"Cross-validated accuracy on the training rows: {table}.")
    on_valid = {c: linear_probe(embeddings, items, C=c)["accuracy"] for c in candidates}
    if on_valid[answer] == max(on_valid.values()):
        return Verdict(False, "That C is best on the validation set, so choosing it makes the validation "
                              "accuracy an optimistic estimate. Choose on the training rows alone, by "
                              "cross-validation: " + hint)
    return Verdict(False, f"C={answer} is not the best by cross-validation. Hint: {hint}")


def check_nearest(answer, embeddings: np.ndarray, items: pd.DataFrame, query: int) -> Verdict:
    """Exercise 01.2: the training row nearest to validation row `query` by cosine similarity."""
    hint = ("divide each embedding by its length (np.linalg.norm(..., axis=1, keepdims=True)); the dot "
            "product of two such vectors is their cosine similarity. Search the training rows only.")
    if answer is None:
        return _unanswered(hint)
    embeddings = np.asarray(embeddings, dtype=float)
    valid = items["is_valid"].to_numpy(bool)
    train = np.flatnonzero(~valid)
    if not valid[query]:
        raise ValueError(f"Row {query} of items is a training row; pass a validation row as `query`.")
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    cosine = unit[train] @ unit[query]
    truth = int(train[np.argmax(cosine)])
    if answer == truth:
        return Verdict(True, f"Row {truth} ({items['label'].iloc[truth]}), cosine similarity "
                             f"{cosine.max():.3f}; the query is {items['label'].iloc[query]}. The k-NN probe "
                             f"votes among the k rows found this way.")
    if not isinstance(answer, (int, np.integer)) or not 0 <= answer < len(items):
        return Verdict(False, f"Give a row number of items, 0 to {len(items) - 1}.")
    if valid[answer]:
        return Verdict(False, f"Row {answer} is a validation row (is_valid is True). Hint: {hint}")
    if answer < len(train) and train[answer] == truth:
        return Verdict(False, f"{answer} is the row's position among the training rows; give its row in items.")
    euclid = int(train[np.argmin(np.linalg.norm(embeddings[train] - embeddings[query], axis=1))])
    if answer == euclid:
        return Verdict(False, "That row is nearest by Euclidean distance, which long vectors dominate. "
                              "Cosine similarity compares directions only. Hint: " + hint)
    return Verdict(False, f"Row {answer} is not the nearest. Hint: {hint}")


# --------------------------------------------------------------------------- notebook 02

def check_recall_precision(answer, confusion: pd.DataFrame, positive: str) -> Verdict:
    """Exercise 02.1: recall and precision of class `positive` from a confusion table
    (true labels in rows, predicted in columns)."""
    hint = (f"recall = caught {positive} / all truly {positive} (its row); precision = caught {positive} / "
            f"all predicted {positive} (its column).")
    if answer is None:
        return _unanswered(hint)
    hit = confusion.loc[positive, positive]
    recall, precision = hit / confusion.loc[positive].sum(), hit / confusion[positive].sum()
    try:
        given = tuple(float(a) for a in answer)
    except TypeError:
        given = ()
    if len(given) != 2:
        return Verdict(False, "Give two numbers: (recall, precision).")
    if _close(given, (recall, precision), rtol=2e-3):
        return Verdict(True, f"Recall {recall:.3f}: the model finds {hit} of {confusion.loc[positive].sum()} "
                             f"{positive} cells. Precision {precision:.3f}: {hit} of its "
                             f"{confusion[positive].sum()} {positive} calls are right.")
    if _close(given, (precision, recall), rtol=2e-3):
        return Verdict(False, "The two are swapped. " + hint)
    return Verdict(False, hint)


def _positive_scores(predictions: pd.DataFrame, positive: str) -> np.ndarray:
    labels = set(predictions["label"]) | set(predictions["predicted"])
    if len(labels) != 2 or positive not in labels:
        raise ValueError(f"Need predictions of two classes, one of them {positive!r}; found {sorted(labels)}.")
    p = predictions["probability"].to_numpy(float)
    return np.where(predictions["predicted"] == positive, p, 1 - p)


def check_false_alarms(answer, predictions: pd.DataFrame, positive: str, recall: float = 0.9) -> Verdict:
    """Exercise 02.2: the false alarms left when the threshold is lowered until the model
    catches at least `recall` of the `positive` cells."""
    hint = (f"P({positive}) is `probability` where `predicted` is {positive}, else 1 - probability. The "
            f"highest threshold that keeps {recall:.0%} of the {positive} cells at or above it is one of "
            f"their scores; count the other cells at or above it.")
    if answer is None:
        return _unanswered(hint)
    score = _positive_scores(predictions, positive)
    is_positive = (predictions["label"] == positive).to_numpy()
    ranked = np.sort(score[is_positive])[::-1]
    threshold = ranked[math.ceil(recall * len(ranked)) - 1]
    truth = int((score[~is_positive] >= threshold).sum())
    if answer == truth:
        return Verdict(True, f"At threshold {threshold:.3f} the model catches "
                             f"{(ranked >= threshold).sum()} of {len(ranked)} {positive} cells and raises "
                             f"{truth} false alarms among {(~is_positive).sum()} others.")
    if answer == int((predictions["predicted"][~is_positive] == positive).sum()):
        return Verdict(False, "That is the count at the default threshold (0.5). Lower the threshold until "
                              f"{recall:.0%} of the {positive} cells are caught. Hint: {hint}")
    return Verdict(False, hint)


# --------------------------------------------------------------------------- notebook 03

def check_slice_rates(answer, lo: float, hi: float, groups: int) -> Verdict:
    """Exercise 03.1: the rate each of `groups` layer groups gets from slice(lo, hi)."""
    from fastai.torch_core import even_mults   # what fastai's Learner.lr_range uses
    hint = f"the rates run from {lo:g} to {hi:g}, evenly spaced on a log scale (np.geomspace), one per group."
    if answer is None:
        return _unanswered(hint)
    truth = list(even_mults(lo, hi, groups))
    given = list(np.ravel(np.asarray(answer, dtype=float)))
    if len(given) != groups:
        return Verdict(False, f"Give {groups} rates, one per layer group (you gave {len(given)}).")
    if _close(given, truth, rtol=0.02, atol=0):
        return Verdict(True, "Each group's rate is the previous one times "
                             f"{(hi / lo) ** (1 / (groups - 1)):.3g}: " + ", ".join(f"{r:.2e}" for r in truth) + ".")
    if _close(given, np.linspace(lo, hi, groups), rtol=0.02, atol=0):
        return Verdict(False, "Those are evenly spaced on a linear scale: the middle groups would get rates "
                              "close to the head's. " + hint)
    return Verdict(False, hint)


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
    value, verdict = _run(penalty, hint, model, start, alpha)
    if verdict is not None:
        return verdict
    truth = float(alpha * reference.penalty().detach())
    if not torch.is_tensor(value) or not value.requires_grad:
        return Verdict(False, "Return a tensor that still carries gradients (no .item(), no torch.no_grad), "
                              "or the penalty cannot pull the weights back.")
    got = float(value.detach()) if torch.is_tensor(value) else float(value)
    if _close(got, truth):
        return Verdict(True, f"{got:.4f} for this perturbed model, the same as layerwise.L2SP's term.")
    if _close(got, truth / alpha):
        return Verdict(False, "Multiply by alpha: it sets how hard the weights are pulled back.")
    if _close(got, truth / 2):
        return Verdict(False, "Half the term: layerwise.L2SP uses alpha * squared distance, without 1/2.")
    if _close(got, alpha * math.sqrt(truth / alpha)):
        return Verdict(False, "That is alpha times the distance; L2-SP uses the squared distance.")
    return Verdict(False, f"Your penalty gives {got:.4f}. Hint: {hint}")


# --------------------------------------------------------------------------- notebook 04

def check_coral(coral) -> Verdict:
    """Exercise 04.1: `coral(source, target)` on two (batch, features) tensors, as `shift.coral_loss`."""
    hint = ("the squared Frobenius distance between the two feature covariances (torch.cov(x.T)), "
            "divided by 4 d^2 for d features.")
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(32, 5, generator=generator)
    target = 2 * torch.randn(24, 5, generator=generator) + 1
    value, verdict = _run(coral, hint, source, target)
    if verdict is not None:
        return verdict
    truth = float(coral_loss(source, target))
    got = float(value.detach()) if torch.is_tensor(value) else float(value)
    if _close(got, truth):
        return Verdict(True, f"{got:.4f} on two test batches, the same as shift.coral_loss.")
    if _close(got, truth * 4 * 25):
        return Verdict(False, "Divide by 4 d^2 (d = number of features), so the loss does not grow with the "
                              "feature width.")
    biased = ((torch.cov(source.T, correction=0) - torch.cov(target.T, correction=0)) ** 2).sum() / 100
    if _close(got, float(biased)):
        return Verdict(False, "Your covariances divide by n; Deep CORAL's (and torch.cov's default) divide "
                              "by n - 1.")
    if _close(got, math.sqrt(truth * 100) / 100):
        return Verdict(False, "Square the Frobenius norm. " + hint)
    return Verdict(False, f"Your loss gives {got:.4f}. Hint: {hint}")


def check_reversal(reverse) -> Verdict:
    """Exercise 04.2: `reverse(x, strength)`: identity forward, gradient times -strength backward."""
    hint = ("a torch.autograd.Function whose forward returns x.view_as(x) and whose backward returns "
            "(-strength * grad, None); call it with .apply(x, strength).")
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=generator, requires_grad=True)
    upstream = torch.randn(4, 3, generator=generator)
    y, verdict = _run(reverse, hint, x, 0.5)
    if verdict is not None:
        return verdict
    try:
        y.backward(upstream)
    except Exception as error:   # the learner's code: report any failure as a hint
        return Verdict(False, f"The backward pass failed with {type(error).__name__}: {error}. Hint: {hint}")
    if not torch.equal(y.detach(), x.detach()):
        return Verdict(False, "The forward pass must return x unchanged: the reversal acts on gradients only.")
    grad = x.grad
    if _close(grad, -0.5 * upstream):
        return Verdict(True, "Forward: x unchanged. Backward: the gradient times -0.5. The layers before it "
                             "now learn to confuse the domain classifier after it.")
    if _close(grad, upstream):
        return Verdict(False, "The gradient comes back unchanged: backward must flip its sign and scale it.")
    if _close(grad, -upstream):
        return Verdict(False, "The sign flips, but strength is ignored: multiply by -strength.")
    if _close(grad, 0.5 * upstream):
        return Verdict(False, "Scaled, but not reversed: multiply by -strength, not strength.")
    return Verdict(False, hint)


# --------------------------------------------------------------------------- notebook 05

def check_mean_pool(pool) -> Verdict:
    """Exercise 05.1: `pool(tokens, attention_mask)`, the mean over real tokens, as `text.mean_pool`."""
    hint = ("multiply the token vectors by the mask (attention_mask.unsqueeze(-1)), sum over tokens, and "
            "divide by the number of real tokens per text.")
    tokens = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    value, verdict = _run(pool, hint, tokens, mask)
    if verdict is not None:
        return verdict
    if tuple(value.shape) != (2, 4):
        return Verdict(False, f"One vector per text: expected shape (2, 4), got {tuple(value.shape)}.")
    if _close(value, mean_pool(tokens, mask)):
        return Verdict(True, "The padding tokens no longer count, so a tweet's embedding does not depend on "
                             "the longest tweet in its batch.")
    if _close(value, tokens.mean(1)):
        return Verdict(False, "That averages the padding tokens too: the first text has 2 of them. " + hint)
    return Verdict(False, hint)


def check_top_words(answer, estimator, label: str, k: int = 5) -> Verdict:
    """Exercise 05.2: the `k` words (or word pairs) a TF-IDF + logistic regression pipeline
    weighs most towards `label`."""
    hint = ("vectorizer, classifier = estimator.named_steps.values(); the row of classifier.coef_ for "
            f"{label!r} (classifier.classes_ gives the order); np.argsort it and keep the {k} largest.")
    if answer is None:
        return _unanswered(hint)
    vectorizer, classifier = estimator.named_steps.values()
    words = vectorizer.get_feature_names_out()
    classes = list(classifier.classes_)

    def weights(name):   # two classes: scikit-learn keeps one row, for the second class
        row = classifier.coef_[classes.index(name)] if len(classifier.coef_) > 1 else classifier.coef_[0]
        return -row if len(classifier.coef_) == 1 and name == classes[0] else row
    order = np.argsort(weights(label))
    truth = set(words[order[::-1][:k]])
    given = set(answer)
    if given == truth:
        return Verdict(True, f"{sorted(truth)}: each raises the score of {label!r} most per unit of TF-IDF.")
    if given == set(words[order[:k]]):
        return Verdict(False, f"Those are the words that count most against {label!r}: take the largest "
                              "weights, not the smallest.")
    for other in classes:
        if other != label and given == set(words[np.argsort(weights(other))[::-1][:k]]):
            return Verdict(False, f"Those are the top words of {other!r}. Hint: {hint}")
    return Verdict(False, f"{len(given & truth)} of your {len(given)} are among the top {k}. Hint: {hint}")
