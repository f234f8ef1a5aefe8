"""The README's table of error messages, written from the calls that raise them:

    python -m tlcourse.maintain.errors     # rewrites the table in README.md

Each case is bad input to the public API, which fails at once with an error that says what is
wrong and what to do; tests/test_errors.py checks every case and that the README's table is
what the library says now.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

import tlcourse as tl
from tlcourse import adapt, data, evaluate, features, layerwise, models, shift, text, training
from tlcourse.maintain import guide, run

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- errors:start -->", "<!-- errors:end -->"
TWO_CLASSES = pd.DataFrame({"label": ["a"] * 5 + ["b"] * 5})
SPLIT = pd.DataFrame({"label": ["a", "b"], "is_valid": [False, True]})

# (the call as the README shows it, the call, the exception it raises)
CASES = [
    ('tl.load_items("cifar10")', lambda: tl.load_items("cifar10"), ValueError),
    ('tl.load_items("elpv", target="colour")', lambda: tl.load_items("elpv", target="colour"), ValueError),
    ('tl.load_items("elpv", domain="thin-film")', lambda: tl.load_items("elpv", domain="thin-film"), ValueError),
    ('tl.load_items("/no/such/folder")', lambda: tl.load_items("/no/such/folder"), FileNotFoundError),
    ('tl.split_items(table_with_one_class)', lambda: tl.split_items(pd.DataFrame({"label": ["a"] * 4})), ValueError),
    ('tl.split_items(five_per_class, n_per_class=10, valid_per_class=1)',
     lambda: tl.split_items(TWO_CLASSES, n_per_class=10, valid_per_class=1), ValueError),
    ('tl.split_items(items, n_per_class=0)', lambda: tl.split_items(TWO_CLASSES, n_per_class=0), ValueError),
    ('tl.split_items(items, n_per_class=-1)', lambda: tl.split_items(TWO_CLASSES, n_per_class=-1), ValueError),
    ('tl.get_dls("silhouettes", bs=0)', lambda: tl.get_dls("silhouettes", bs=0), ValueError),
    ('tl.get_dls("silhouettes", size="64")', lambda: tl.get_dls("silhouettes", size="64"), TypeError),
    ('training.fine_tune(learn, 3, base_lr=float("nan"))',
     lambda: training.fine_tune(None, 3, base_lr=float("nan")), ValueError),
    ('tl.data.dls_from_items(items_without_a_split)',
     lambda: data.dls_from_items(pd.DataFrame({"path": [], "label": []})), ValueError),
    ('tl.data.dls_from_items(items, size=4)', lambda: data.dls_from_items(SPLIT, size=4), ValueError),
    ('tl.create_learner(dls, "vgg99")', lambda: tl.create_learner(None, "vgg99"), ValueError),
    ('tl.models.imagenet_classifier("small_cnn")', lambda: models.imagenet_classifier("small_cnn"), ValueError),
    ('features.extract_features(table_without_paths, "cells")',
     lambda: features.extract_features(pd.DataFrame({"label": ["a"]}), "cells"), ValueError),
    ('features.linear_probe(three_rows, two_items)', lambda: features.linear_probe(np.zeros((3, 4)), SPLIT), ValueError),
    ('features.linear_probe(embeddings, items_without_a_split)',
     lambda: features.linear_probe(np.zeros((2, 4)), SPLIT[["label"]]), ValueError),
    ('features.project_2d(embeddings, "umap")', lambda: features.project_2d(np.zeros((4, 3)), "umap"), ValueError),
    ('evaluate.comparison_table([])', lambda: evaluate.comparison_table([]), ValueError),
    ('layerwise.discriminative_lrs(1e-2, 1e-4, 3)', lambda: layerwise.discriminative_lrs(1e-2, 1e-4, 3), ValueError),
    ('layerwise.L2SP(body, alpha=-1)', lambda: layerwise.L2SP(nn.Linear(2, 2), alpha=-1), ValueError),
    ('shift.corrupt_image(image, "rain", 3)',
     lambda: shift.corrupt_image(np.zeros((32, 32, 3), np.uint8), "rain", 3), ValueError),
    ('shift.corrupt_image(image, "fog", 6)',
     lambda: shift.corrupt_image(np.zeros((32, 32, 3), np.uint8), "fog", 6), ValueError),
    ('adapt.coral_loss(batch_of_width_3, batch_of_width_2)',
     lambda: adapt.coral_loss(torch.zeros(4, 3), torch.zeros(4, 2)), ValueError),
    ('adapt.CORAL(target_dl, weight=-1)', lambda: adapt.CORAL(None, weight=-1), ValueError),
    ('text.embed_texts([], "tweets")', lambda: text.embed_texts([], "tweets"), ValueError),
    ('text.embed_texts(["fine", 3], "tweets")', lambda: text.embed_texts(["fine", 3], "tweets"), ValueError),
    ('tl.record(losses=[0.9, 0.7])', lambda: tl.record(losses=[0.9, 0.7]), TypeError),
    ('maintain.run.execute(notebook, output, mode="gpu")',
     lambda: run.execute(Path("x.ipynb"), Path("y.ipynb"), mode="gpu"), ValueError),
]


def message(call, error) -> str:
    """What `call` says when it raises `error` (a call that does not raise it is a bug)."""
    try:
        call()
    except error as raised:
        return str(raised)
    raise AssertionError(f"{call} did not raise {error.__name__}")


def table() -> str:
    """The README's table of error messages: one row per case, as the library words it now."""
    lines = ["| call | error | what it says |", "|---|---|---|"]
    for shown, call, error in CASES:
        said = message(call, error).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{shown}` | `{error.__name__}` | {said} |")
    return "\n".join(lines)


def main() -> int:
    guide.rewrite(ROOT / "README.md", table(), START, END)
    print("README.md: table of error messages rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
