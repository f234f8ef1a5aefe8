"""tlcourse.exercises: every self-check accepts the right answer, rejects the usual wrong
ones with the hint that names the mistake, and asks for an answer when given None."""

import numpy as np
import pandas as pd
import pytest
import torch

import tlcourse as tl
from tlcourse import exercises as ex
from conftest import stand_in_learner, tiny_dls


def not_yet(verdict, words):
    assert not verdict and repr(verdict).startswith("✗ Not yet."), verdict
    assert words in verdict.message, verdict.message


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    return tiny_dls(tmp_path_factory.mktemp("exercises"))


@pytest.fixture(scope="module")
def split():
    """Embeddings whose first feature carries the label, and a split table of 60 rows."""
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 30)
    embeddings = rng.normal(size=(60, 6)) + np.where(labels == "a", 0.0, 1.5)[:, None] * np.eye(6)[0]
    items = tl.split_items(pd.DataFrame({"label": labels}), valid_per_class=10)
    order = items.index.to_numpy()
    return embeddings[order], items


def test_a_verdict_reads_as_right_or_not_yet_and_is_truthy_when_right():
    assert bool(ex.Verdict(True, "x")) and repr(ex.Verdict(True, "x")) == "✓ Right. x"
    assert not ex.Verdict(False, "y") and repr(ex.Verdict(False, "y")) == "✗ Not yet. y"


def test_trainable_count_knows_the_head_alone_and_every_parameter(dls):
    learn = stand_in_learner(dls)
    count = lambda ps: sum(p.numel() for p in ps)
    truth = count(p for p in learn.model.parameters() if p.requires_grad)
    assert ex.check_trainable(truth, learn)
    not_yet(ex.check_trainable(None, learn), "Replace None")
    not_yet(ex.check_trainable(count(learn.model.parameters()), learn), "every parameter")
    not_yet(ex.check_trainable(count(learn.model[1].parameters()), learn), "BatchNorm")
    not_yet(ex.check_trainable(float(truth), learn), "whole number")


def test_forgetting_prediction_compares_the_source_model_before_and_after():
    assert ex.check_forgetting("lower", 0.40, 0.95)
    assert not ex.check_forgetting("level", 0.40, 0.95)


def test_a_prediction_is_checked_against_the_measured_direction_with_two_points_for_level():
    assert ex.direction(0.80, 0.75) == "higher" and ex.direction(0.70, 0.75) == "lower"
    assert ex.direction(0.76, 0.75) == "level" and ex.direction(0.73, 0.75) == "level"
    right = ex.check_prediction("lower", 0.70, 0.75, "A against B", why="because.")
    assert right and repr(right).startswith("✓ As you predicted.") and "0.700 against 0.750" in right.message
    assert "because." in right.message
    wrong = ex.check_prediction("level", 0.70, 0.75, "A against B", why="because.")
    assert not wrong and repr(wrong).startswith("✗ Not as you predicted.") and "lower" in wrong.message
    waiting = ex.check_prediction(None, 0.70, 0.75, "A against B")
    not_yet(waiting, "Replace None")
    assert "0.700" not in waiting.message                 # nothing of the measurement before a prediction
    not_yet(ex.check_prediction("down", 0.70, 0.75, "A against B"), "one of")


def test_cell_type_prediction_compares_stage2_with_the_last_layer():
    assert ex.check_cell_type_layer("level", 0.985, 0.992)
    assert not ex.check_cell_type_layer("lower", 0.985, 0.992)
    assert ex.check_cell_type_layer("lower", 0.75, 0.992)


def test_nearest_neighbour_is_by_cosine_among_training_rows_and_given_as_a_row_of_items():
    items = pd.DataFrame({"label": ["a", "b", "b", "a"], "is_valid": [False, False, False, True]})
    # row 3 is the query: row 0 points the same way but is long; row 1 is closer in Euclidean terms
    embeddings = np.array([[10.0, 0.1], [0.6, 0.5], [0.0, 1.0], [1.0, 0.0]])
    assert ex.check_nearest(0, embeddings, items, query=3)
    not_yet(ex.check_nearest(1, embeddings, items, query=3), "Euclidean")
    not_yet(ex.check_nearest(3, embeddings, items, query=3), "validation row")
    not_yet(ex.check_nearest(None, embeddings, items, query=3), "Replace None")
    with pytest.raises(ValueError, match="training row"):
        ex.check_nearest(0, embeddings, items, query=0)


def test_recall_and_precision_come_from_the_row_and_the_column():
    confusion = pd.DataFrame([[178, 22], [95, 105]], index=["functional", "defective"],
                             columns=["functional", "defective"])
    recall, precision = 105 / 200, 105 / 127
    assert ex.check_recall_precision((recall, precision), confusion, "defective")
    assert ex.check_recall_precision((round(recall, 3), round(precision, 3)), confusion, "defective")
    not_yet(ex.check_recall_precision((precision, recall), confusion, "defective"), "swapped")
    not_yet(ex.check_recall_precision(0.5, confusion, "defective"), "two numbers")


def test_false_alarms_at_the_threshold_that_catches_ninety_percent():
    # ten defective cells with P(defective) 0.1 ... 1.0, ten functional ones with 0.05 ... 0.95
    p_defective = np.r_[np.linspace(0.1, 1.0, 10), np.linspace(0.05, 0.95, 10)]
    labels = ["defective"] * 10 + ["functional"] * 10
    predicted = np.where(p_defective >= 0.5, "defective", "functional")
    predictions = pd.DataFrame({"label": labels, "predicted": predicted,
                                "probability": np.where(predicted == "defective", p_defective, 1 - p_defective)})
    # 90 % of ten defective cells: nine, so the threshold is the ninth highest score, 0.2;
    # functional cells at or above 0.2: 0.25, 0.35, ..., 0.95 = 8
    assert ex.check_false_alarms(8, predictions, "defective")
    not_yet(ex.check_false_alarms(5, predictions, "defective"), "default threshold")
    not_yet(ex.check_false_alarms(None, predictions, "defective"), "Replace None")
    with pytest.raises(ValueError, match="two classes"):
        ex.check_false_alarms(1, predictions.assign(label="x"), "defective")


def test_one_rate_training_prediction_compares_training_accuracies():
    assert ex.check_one_rate_training("lower", 0.55, 0.98)
    assert not ex.check_one_rate_training("higher", 0.55, 0.98)
    assert ex.check_one_rate_training("level", 0.97, 0.98)
    not_yet(ex.check_one_rate_training(None, 0.55, 0.98), "Replace None")


def test_adabn_few_digits_prediction_compares_the_two_accuracies():
    assert ex.check_adabn_few_digits("lower", 0.40, 0.55)
    assert not ex.check_adabn_few_digits("level", 0.40, 0.55)
    not_yet(ex.check_adabn_few_digits(None, 0.40, 0.55), "Replace None")


def test_l2sp_penalty_matches_the_library_and_names_the_usual_slips():
    def right(model, start, alpha):
        return alpha * sum(((p - s) ** 2).sum() for p, s in zip(model.parameters(), start))
    assert ex.check_l2sp(right)
    not_yet(ex.check_l2sp(lambda m, s, a: right(m, s, a) / a), "Multiply by alpha")
    not_yet(ex.check_l2sp(lambda m, s, a: right(m, s, a) / 2), "without 1/2")
    not_yet(ex.check_l2sp(lambda m, s, a: a * (right(m, s, a) / a).sqrt()), "squared distance")
    not_yet(ex.check_l2sp(lambda m, s, a: right(m, s, a).detach()), "gradients")
    not_yet(ex.check_l2sp(lambda m, s, a: None), "Replace None")
    not_yet(ex.check_l2sp(lambda m, s, a: 1 / 0), "ZeroDivisionError")


def test_coral_matches_the_library_and_names_the_usual_slips():
    def right(source, target):
        d = source.shape[1]
        return ((torch.cov(source.T) - torch.cov(target.T)) ** 2).sum() / (4 * d * d)
    assert ex.check_coral(right)
    not_yet(ex.check_coral(lambda s, t: right(s, t) * 4 * s.shape[1] ** 2), "4 d^2")
    biased = lambda s, t: ((torch.cov(s.T, correction=0) - torch.cov(t.T, correction=0)) ** 2).sum() / 100
    not_yet(ex.check_coral(biased), "n - 1")
    not_yet(ex.check_coral(lambda s, t: None), "Replace None")


def test_gradient_reversal_must_flip_and_scale_the_gradient_only():
    Reverse = tl.adapt._ReverseGradient   # the library's own, as a learner's right answer
    assert ex.check_reversal(Reverse.apply)
    assert ex.check_reversal(lambda x, s: tl.adapt.GradientReversal(s)(x))
    not_yet(ex.check_reversal(lambda x, s: x * 1.0), "unchanged")
    not_yet(ex.check_reversal(lambda x, s: -x), "forward pass")
    not_yet(ex.check_reversal(lambda x, s: Reverse.apply(x, 1.0)), "strength is ignored")
    not_yet(ex.check_reversal(lambda x, s: None), "Replace None")
    not_yet(ex.check_reversal(lambda x, s: x.detach()), "backward pass failed")


def test_agreement_prediction_compares_low_with_high_agreement_tweets():
    assert ex.check_agreement("lower", 0.45, 0.75)
    assert not ex.check_agreement("level", 0.45, 0.75)


def test_zero_shot_by_hand_must_use_cosine_and_one_index_per_tweet():
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    assert ex.check_zero_shot(lambda tweets, described: (unit(tweets) @ unit(described).T).argmax(axis=1))
    not_yet(ex.check_zero_shot(lambda tweets, described: (tweets @ described.T).argmax(axis=1)), "dot product")
    not_yet(ex.check_zero_shot(lambda tweets, described: (unit(tweets) @ unit(described).T).argmax(axis=0)), "axis=1")
    not_yet(ex.check_zero_shot(lambda tweets, described: None), "Replace None")
    not_yet(ex.check_zero_shot(lambda tweets, described: 1 / 0), "ZeroDivisionError")


def test_lora_parameters_are_counted_from_the_layer_and_name_the_usual_slips():
    from collections import OrderedDict
    from peft import LoraConfig, inject_adapter_in_model
    model = inject_adapter_in_model(LoraConfig(r=4, target_modules=["layer"]),
                                    torch.nn.Sequential(OrderedDict(layer=torch.nn.Linear(10, 6))))
    layer = model.layer
    assert ex.check_lora_parameters(4 * (10 + 6), layer)
    not_yet(ex.check_lora_parameters(60, layer), "W's size")
    not_yet(ex.check_lora_parameters(40, layer), "one of the two")
    not_yet(ex.check_lora_parameters("many", layer), "whole number")
    not_yet(ex.check_lora_parameters(None, layer), "Replace None")


def test_head_without_adapters_prediction_compares_with_the_head_alone():
    assert ex.check_head_without_adapters("lower", 0.55, 0.64)
    assert not ex.check_head_without_adapters("higher", 0.55, 0.64)
    not_yet(ex.check_head_without_adapters(None, 0.55, 0.64), "Replace None")
