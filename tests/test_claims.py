"""The notebooks' prose against their recorded figures.

The figures are read from the committed notebooks; nbval (make test-notebooks)
checks that a fresh run reproduces them to the printed digit.
"""
from pathlib import Path

import pytest

from tlcourse.results import recorded

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


@pytest.fixture(scope="module")
def concepts():
    return recorded(NOTEBOOKS / "00_concepts.ipynb")


def test_00_imagenet_weights_name_the_photos(concepts):
    # "The network names the espresso, the cat's breed and the army uniform"
    assert concepts["top1_coffee"] == "espresso"
    assert concepts["top1_chelsea"] in {"Egyptian cat", "tabby", "tiger cat"}
    assert concepts["top1_grace_hopper"] == "military uniform"


def gain(figures, n):
    return figures[f"transfer_acc_{n}"] - figures[f"scratch_acc_{n}"]


def test_00_transfer_wins_clearly_with_10_labels_per_class(concepts):
    # "With 10 labelled digits per class ... much better ...: about 19 points of accuracy."
    assert 0.15 <= gain(concepts, 10) <= 0.23


def test_00_gain_shrinks_to_a_few_points_at_30(concepts):
    # "With 30 per class the gain is a few points"
    assert 0.0 < gain(concepts, 30) < 0.06
    assert gain(concepts, 30) < gain(concepts, 10)


def test_00_methods_are_level_from_100_per_class(concepts):
    # "from 100 per class on the two are level"
    assert abs(gain(concepts, 100)) <= 0.02
    assert abs(gain(concepts, 300)) <= 0.02


def test_00_source_model_learned_its_task(concepts):
    assert concepts["source_accuracy"] > 0.8
