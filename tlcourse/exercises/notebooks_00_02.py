"""Self-checks for the exercises of notebooks 00, 01 and 02 (see the package's docstring)."""
from __future__ import annotations

import math
from dataclasses import astuple

import numpy as np
import pandas as pd

from ..checks import ACCURACY, checked, number, text, whole
from ..models import trainable_parameters
from .verdict import Verdict, check_prediction, close, unanswered


# --------------------------------------------------------------------------- notebook 00

def check_trainable(answer, learn) -> Verdict:
    """Exercise 00.1: how many parameters train while a learner's body is frozen?"""
    hint = "add up p.numel() for the parameters p of learn.model whose p.requires_grad is True."
    if answer is None:
        return unanswered(hint)
    truth, total = astuple(trainable_parameters(learn))
    head = trainable_parameters(learn.model.head).total
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


@checked(after=ACCURACY, before=ACCURACY)
def check_forgetting(prediction, after: float, before: float) -> Verdict:
    """Exercise 00.2 (predict, then measure): the source model's accuracy on its own task with its
    body swapped for the one fine-tuned on the target, against its accuracy before."""
    return check_prediction(
        prediction, after, before, "the source model on silhouettes with the digit-tuned body, against before",
        why="Fine-tuning moved the body towards what digits need, and nothing in the digits' loss asked it to keep "
            "what silhouettes needed: the old head reads features that have changed. This is forgetting, the "
            "price of fine-tuning every weight.")


# --------------------------------------------------------------------------- notebook 01

@checked(stage2=ACCURACY, last_layer=ACCURACY)
def check_cell_type_layer(prediction, stage2: float, last_layer: float) -> Verdict:
    """Exercise 01.1 (predict, then measure): the cell-type probe on stage2 against the same
    probe on the last layer."""
    return check_prediction(
        prediction, stage2, last_layer, "the cell-type probe on stage2 against the last layer",
        why="Mono cells are evenly dark, poly cells a patchwork of crystal grains: a texture, and textures are "
            "what a network's early stages detect. The defects, thin cracks and dark patches on either kind, "
            "gained with depth in section 4. How early a layer suffices depends on the signal, not only on "
            "how far the task is from ImageNet.")


@checked(query=whole(0, hint="a row of the table"))
def check_nearest(answer, embeddings: np.ndarray, items: pd.DataFrame, query: int) -> Verdict:
    """Exercise 01.2: the training row nearest to validation row `query` by cosine similarity."""
    hint = ("divide each embedding by its length (np.linalg.norm(..., axis=1, keepdims=True)); the dot "
            "product of two such vectors is their cosine similarity. Search the training rows only.")
    if answer is None:
        return unanswered(hint)
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

@checked(positive=text())
def check_recall_precision(answer, confusion: pd.DataFrame, positive: str) -> Verdict:
    """Exercise 02.1: recall and precision of class `positive` from a confusion table
    (true labels in rows, predicted in columns)."""
    hint = (f"recall = caught {positive} / all truly {positive} (its row); precision = caught {positive} / "
            f"all predicted {positive} (its column).")
    if answer is None:
        return unanswered(hint)
    hit = confusion.loc[positive, positive]
    recall, precision = hit / confusion.loc[positive].sum(), hit / confusion[positive].sum()
    try:
        given = tuple(float(a) for a in answer)
    except TypeError:
        given = ()
    if len(given) != 2:
        return Verdict(False, "Give two numbers: (recall, precision).")
    if close(given, (recall, precision), rtol=2e-3):
        return Verdict(True, f"Recall {recall:.3f}: the model finds {hit} of {confusion.loc[positive].sum()} "
                             f"{positive} cells. Precision {precision:.3f}: {hit} of its "
                             f"{confusion[positive].sum()} {positive} calls are right.")
    if close(given, (precision, recall), rtol=2e-3):
        return Verdict(False, "The two are swapped. " + hint)
    return Verdict(False, hint)


@checked(unsure=ACCURACY, sure=ACCURACY)
def check_unsure_cells(prediction, unsure: float, sure: float) -> Verdict:
    """Exercise 02.3 (predict, then measure): the fine-tuned model's recall on defective cells the
    experts graded 2/3 against those they graded 1."""
    return check_prediction(
        prediction, unsure, sure, "the recall on cells graded 2/3 against cells graded 1",
        why="A cell the experts were unsure of shows a fainter or smaller defect, and the model saw few such "
            "cells: most defective cells are graded 1. Labels that are hard for experts are hard "
            "for a model too; a threshold tuned for recall (exercise 2) catches more of them, at the price of "
            "false alarms.")


def _positive_scores(predictions: pd.DataFrame, positive: str) -> np.ndarray:
    labels = set(predictions["label"]) | set(predictions["predicted"])
    if len(labels) != 2 or positive not in labels:
        raise ValueError(f"Need predictions of two classes, one of them {positive!r}; found {sorted(labels)}.")
    p = predictions["probability"].to_numpy(float)
    return np.where(predictions["predicted"] == positive, p, 1 - p)


@checked(positive=text(), recall=number(0, 1, low_open=True))
def check_false_alarms(answer, predictions: pd.DataFrame, positive: str, recall: float = 0.9) -> Verdict:
    """Exercise 02.2: the false alarms left when the threshold is lowered until the model
    catches at least `recall` of the `positive` cells."""
    hint = (f"P({positive}) is `probability` where `predicted` is {positive}, else 1 - probability. The "
            f"highest threshold that keeps {recall:.0%} of the {positive} cells at or above it is one of "
            f"their scores; count the other cells at or above it.")
    if answer is None:
        return unanswered(hint)
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
