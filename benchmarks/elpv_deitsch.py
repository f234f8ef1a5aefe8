"""ELPV, the published protocol, over five splits: functional vs defective on all 2,624 cells,
75 % to train and 25 % (656 cells) to test, stratified by defect grade and cell type.

Deitsch et al. 2019 (the dataset's authors) report 88.42 % accuracy for a fine-tuned ImageNet
VGG-19 on a GPU. This script fine-tunes the course's backbones on two CPU cores and measures,
one at a time, the ingredients later work used: the native 300 px, dihedral test-time
augmentation, the four defect grades as targets, class weights for the 69/31 imbalance,
longer schedules, other backbones and ensembles of them, and an SVM on frozen features of
several backbones (no fine-tuning; the features are computed once for all cells and cached).

Every choice is made without the test cells:

- `screen CONFIG`: trains on split 0's training cells only, 75 % of them, and scores the
  other 25 % (492 cells held out inside the training split); the screen picks the ingredients.
  Its per-epoch held-out accuracy is printed.
- `run CONFIG --splits 0 1 2 3 4`: trains on each split's 1,968 training cells, scores its 656
  test cells once, when training has ended (no validation during the fit).
- `summary`: the README's tables from the results, and ensembles (the mean of members'
  probabilities) scored from the members' saved predictions.

Each run is saved when it ends (benchmarks/results/elpv/<screen|splitK>/<config>.json: metrics,
seconds, and every held-out cell's probabilities), and a run already saved is skipped, so a
stopped queue loses at most the run in progress. A run prints one line per epoch.

    .venv/bin/python benchmarks/elpv_deitsch.py screen baseline 300px   # ~15-30 min each
    .venv/bin/python benchmarks/elpv_deitsch.py run baseline --splits 0 1 2 3 4
    .venv/bin/python benchmarks/elpv_deitsch.py summary                 # writes the README block

Deitsch et al. stratify too, but their exact cells are not published, so our test cells differ.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.losses import CrossEntropyLossFlat
from sklearn.metrics import accuracy_score, balanced_accuracy_score, matthews_corrcoef
from sklearn.model_selection import train_test_split

import tlcourse as tl
from tlcourse import training
from tlcourse.data import cell_augmentations, dls_from_items
from tlcourse import preprocess
from tlcourse.features import _key as features_key
from tlcourse.features import load_body
from tlcourse.runtime import Timer, autocast

RESULTS = Path(__file__).parent / "results" / "elpv"
DEFECTIVE_GRADES = ("2/3", "1")       # the dataset's rule: defect probability >= 0.5
# 2: held-out cells drawn outside autocast (see dihedral_predict). Runs saved without it read
# warped cells and live in results/elpv/screen-warped.
SCORING = 2


@dataclass(frozen=True)
class Config:
    """One way of training; every field is an ingredient the screen can change alone."""
    backbone: str = "efficientnet_lite0"
    size: int = 224
    freeze_epochs: int = 1
    epochs: int = 9                   # after unfreezing (fastai's fine_tune)
    lr: float = 4e-3
    target: str = "defective"         # or "grades": learn the four grades, defective = P(2/3) + P(1) >= 0.5
    class_weights: bool = False       # cross-entropy weighted by inverse class frequency
    bs: int = 32
    # Not empty: no fine-tuning at all. An SVM on the frozen ImageNet features (each body's last
    # stage, averaged over positions, as notebook 01 reads them) of these backbones, side by side.
    features: tuple[str, ...] = ()


BASELINE = Config()                   # the README's earlier single-split run
FOUR_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2")
CONFIGS = {
    "baseline": BASELINE,
    "300px": Config(size=300),
    "grades": Config(target="grades"),
    "class weights": Config(class_weights=True),
    "19 epochs": Config(epochs=19),
    "lite1": Config(backbone="efficientnet_lite1"),
    "lite2": Config(backbone="efficientnet_lite2"),
    "mobilenet_v2": Config(backbone="mobilenet_v2"),
    "SVM on features": Config(size=300, features=FOUR_BACKBONES),
    "SVM on grades": Config(size=300, features=FOUR_BACKBONES, target="grades"),
}
# `screen` with no names runs every configuration once, and the baseline with two more seeds:
# how far two runs of one configuration differ is what a change must beat to be told apart.
SCREEN_SEEDS = {"baseline": (0, 1, 2)}
# `run` with no names: what goes on all five splits.
ON_SPLITS = ("baseline", "SVM on features", "SVM on grades")


# --------------------------------------------------------------------------- cells and splits

def protocol_split(seed: int = 0) -> pd.DataFrame:
    """All 2,624 cells; `is_valid` marks the 656 test cells of split `seed`, stratified by the
    four defect grades and the cell type (mono/poly). `grade` holds the four grades."""
    items = tl.load_items("elpv")
    items["grade"] = tl.load_items("elpv", target="probability")["label"]
    strata = items["grade"] + "/" + items["domain"]
    _, test = train_test_split(np.arange(len(items)), test_size=656, stratify=strata, random_state=seed)
    items["is_valid"] = False
    items.loc[test, "is_valid"] = True
    return items


def screen_split() -> pd.DataFrame:
    """Split 0's training cells only, a quarter of them held out (stratified the same way):
    where the ingredients are chosen. No test cell of split 0 is in it."""
    items = protocol_split(0)
    items = items[~items["is_valid"]].reset_index(drop=True)
    strata = items["grade"] + "/" + items["domain"]
    _, held = train_test_split(np.arange(len(items)), test_size=0.25, stratify=strata, random_state=0)
    items["is_valid"] = False
    items.loc[held, "is_valid"] = True
    return items


# --------------------------------------------------------------------------- training and scoring

class EpochLine(Callback):
    """One line per epoch (losses, accuracy if validated, minutes so far): progress in a log."""
    order = 90

    def __init__(self):
        self.start = time.perf_counter()   # fine_tune fits twice: minutes count from the first

    # fastai's get_preds enters the Learner as a context, which fires before_fit, before_epoch,
    # after_epoch and after_fit too, but never after_train: print only epochs that trained, or
    # scoring the held-out cells would print a stray "epoch 1" line.
    def before_epoch(self):
        self.trained = False

    def after_train(self):
        self.trained = True

    def after_epoch(self):
        if not self.trained:
            return
        values = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in self.learn.recorder.log[1:-1]]
        minutes = (time.perf_counter() - self.start) / 60
        print(f"    epoch {self.epoch + 1}/{self.n_epoch}: {' '.join(values)}  ({minutes:.1f} min)", flush=True)


def dihedral_views(x: torch.Tensor) -> list[torch.Tensor]:
    """A batch's eight dihedral views: four quarter turns, each also mirrored."""
    return [torch.rot90(v, k, (2, 3)) for v in (x, x.flip(3)) for k in range(4)]


def dihedral_predict(learn, tta: bool) -> np.ndarray:
    """Class probabilities for the held-out cells; with `tta`, the mean over the cell's eight
    dihedral views (four quarter turns, each also mirrored): a cell's defects do not depend on
    how it lies, and training's augmentation showed the model all eight."""
    model = learn.model.eval()
    out = []
    with torch.inference_mode():
        # The batch is drawn outside autocast: fastai's validation pipeline still warps each
        # image by the identity (affine_grid + grid_sample), and under bfloat16 autocast that
        # warp moves pixels. The screen runs before this fix read their cells so warped.
        for x, _ in learn.dls.valid:
            x = x.as_subclass(torch.Tensor)
            views = dihedral_views(x) if tta else [x]
            with autocast("inference"):
                out.append(torch.stack([model(v).float().softmax(1) for v in views]).mean(0).cpu())
    return torch.cat(out).numpy()


def same_as_fastai(learn, plain: np.ndarray) -> float:
    """The largest difference between our plain pass and fastai's own `get_preds` over the same
    cells with the same weights; a run stops if they disagree (they did while the bug above lived)."""
    theirs = learn.get_preds(ds_idx=1)[0].numpy()
    gap = float(np.abs(theirs - plain).max())
    if gap > 1e-3:
        raise RuntimeError(f"our plain pass differs from fastai's get_preds by up to {gap:.4f}")
    return gap


def train_and_predict(items: pd.DataFrame, config: Config, seed: int, validate: bool, where: str, name: str) -> dict:
    """Fine-tune on the cells not `is_valid` (fastai's fine_tune: `freeze_epochs` with the body
    frozen, then `epochs` with every layer), then predict the held-out cells with and without TTA."""
    items = items.copy()
    if config.target == "grades":
        items["label"] = items["grade"]
    dls = dls_from_items(items, size=config.size, seed=seed, bs=config.bs, batch_tfms=cell_augmentations())
    learn = tl.create_learner(dls, config.backbone, seed=seed)
    if config.class_weights:
        counts = items.loc[~items["is_valid"], "label"].value_counts()
        # scikit-learn's "balanced" weights: each class weighs as much in the loss as the others
        weights = torch.tensor([counts.sum() / (len(counts) * counts[c]) for c in dls.vocab], dtype=torch.float32)
        learn.loss_func = CrossEntropyLossFlat(weight=weights.to(tl.runtime.device()))
    learn.add_cb(EpochLine())
    if not validate:
        learn.add_cb(training.SkipValidation())
    training.seeded(learn, seed)
    with Timer() as fit, learn.no_bar(), learn.no_logging():
        learn.fine_tune(config.epochs, config.lr, freeze_epochs=config.freeze_epochs)
    report = {"fit_seconds": fit.seconds, "vocab": list(dls.vocab), "scoring": SCORING}
    if validate:   # before any prediction: get_preds starts the Recorder afresh
        report["epochs"] = training.epoch_table(learn).round(4).to_dict("list")
    # The weights, outside the repository, saved before the checks below can stop the run.
    weights = tl.cache.path("models", f"elpv-{where}-{name.replace(' ', '_').replace(',', '')}.pth")
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(learn.model.state_dict(), weights)
    for tta in (False, True):
        with Timer() as t:
            probs = dihedral_predict(learn, tta)
        key = "tta" if tta else "plain"
        report[f"{key}_seconds"] = t.seconds
        report[f"{key}_probabilities"] = np.round(probs, 5).tolist()
        if not tta:
            report["gap_to_fastai"] = same_as_fastai(learn, probs)
    report["weights"] = str(weights)
    return report


def cell_features(backbone: str, size: int, paths: list, tta: bool) -> tuple[np.ndarray, float]:
    """Each cell's features from a frozen body, and the seconds a cell took; with `tta`, the mean
    over the cell's eight dihedral views. Computed once for all 2,624 cells and cached (the
    features do not depend on the split); the seconds are saved beside them."""
    key = features_key(paths, backbone, size)   # the library's recipe: weights, size, precision, preprocessing, files
    file = tl.cache.path("features", f"elpv-cells-{backbone}-{size}px-{'dihedral' if tta else 'plain'}-{key}.npy")
    timing = file.with_suffix(".json")
    found = tl.cache.load_array(file)
    if found is not None and timing.exists():
        return found, json.loads(timing.read_text())["seconds_per_cell"]
    body, stats = load_body(backbone), tl.backbones.get_backbone(backbone).stats
    chunks = []
    with Timer() as t, torch.inference_mode():
        for start in range(0, len(paths), 32):
            x = preprocess.to_tensor([preprocess.read(p, size) for p in paths[start:start + 32]], stats)
            views = dihedral_views(x) if tta else [x]
            with autocast("inference"):
                chunks.append(torch.stack([body(v).float().mean((2, 3)) for v in views]).mean(0))
    found = torch.cat(chunks).numpy()
    tl.cache.save_array(file, found)
    timing.write_text(json.dumps({"seconds_per_cell": t.seconds / len(paths)}))
    return found, t.seconds / len(paths)


def svm_predict(items: pd.DataFrame, config: Config, seed: int) -> dict:
    """An SVM (RBF kernel, standardised features) on the frozen features of `config.features`,
    learning the two classes or, with `target="grades"`, the four grades; its C chosen by
    five-fold cross-validation inside the training cells; probabilities by Platt scaling
    (scikit-learn's `CalibratedClassifierCV`, sigmoid, fitted on five-fold out-of-fold decision
    values; a cell is defective at P >= 0.5, which can differ from the SVM's own decision near
    its margin). "With TTA" here means features averaged over the eight
    dihedral views for training and held-out cells alike, and a second SVM fitted on them.
    Fit time: the training cells' extraction and the search (`tta_fit_seconds` for the second)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    every = tl.load_items("elpv")
    rows = every.reset_index().set_index("path").loc[items["path"], "index"].to_numpy()
    train, held = ~items["is_valid"].to_numpy(), items["is_valid"].to_numpy()
    # The SVM learns what the configuration's target says: the two classes, or the four grades
    # (one-vs-one inside SVC; defective = P(2/3) + P(1) >= 0.5, as for fine-tuning on grades).
    y = items["grade" if config.target == "grades" else "label"].to_numpy()
    report = {"fit_seconds": 0.0}
    for tta in (False, True):
        parts = [cell_features(b, config.size, list(every["path"]), tta) for b in config.features]
        x = np.concatenate([f[rows] for f, _ in parts], 1)
        per_cell = sum(sec for _, sec in parts)
        # C by accuracy across the folds; then Platt's probabilities for the chosen C only, over the
        # same folds. ensemble=False: one SVM on all training cells, its sigmoid fitted on out-of-fold
        # scores (what SVC(probability=True) did, which scikit-learn 1.9 deprecates).
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        search = GridSearchCV(make_pipeline(StandardScaler(), SVC()), {"svc__C": [1, 3, 10, 30]}, cv=folds)
        with Timer() as t:
            search.fit(x[train], y[train])
            chosen = search.best_params_["svc__C"]
            svm = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(C=chosen), cv=folds, ensemble=False))
            svm.fit(x[train], y[train])
        key = "tta" if tta else "plain"
        report[f"{key}_chosen_C"] = chosen
        report[f"{key}_probabilities"] = np.round(svm.predict_proba(x[held]), 5).tolist()
        report[f"{key}_seconds"] = per_cell * held.sum()
        report["tta_fit_seconds" if tta else "fit_seconds"] = t.seconds + per_cell * train.sum()
    report["vocab"] = [str(c) for c in svm.classes_]   # predict_proba's column order, the same for both fits
    report["scoring"] = SCORING
    return report


def defect_probability(probs: np.ndarray, vocab: list[str]) -> np.ndarray:
    """P(defective) from a model's class probabilities, for either target."""
    probs = np.asarray(probs)
    if "defective" in vocab:
        return probs[:, vocab.index("defective")]
    return probs[:, [vocab.index(g) for g in DEFECTIVE_GRADES]].sum(1)


def scores(p_defective: np.ndarray, held: pd.DataFrame) -> dict:
    truth = (held["label"] == "defective").to_numpy()
    predicted = np.asarray(p_defective) >= 0.5
    return {"accuracy": accuracy_score(truth, predicted), "balanced_accuracy": balanced_accuracy_score(truth, predicted),
            "mcc": matthews_corrcoef(truth, predicted)}


def score_run(run: dict, held: pd.DataFrame) -> dict:
    """Metrics with and without TTA; the four-grade accuracy too when the model learnt grades."""
    out = {}
    for key in ("plain", "tta"):
        probs = np.asarray(run[f"{key}_probabilities"])
        out[key] = scores(defect_probability(probs, run["vocab"]), held)
        if "1/3" in run["vocab"]:
            predicted = np.asarray(run["vocab"])[probs.argmax(1)]
            out[key]["grade_accuracy"] = float((predicted == held["grade"].to_numpy()).mean())
    return out


# --------------------------------------------------------------------------- runs saved one by one

def result_path(where: str, name: str) -> Path:
    return RESULTS / where / f"{name.replace(', ', '_').replace(' ', '_')}.json"


def execute(name: str, where: str, force: bool = False, screen_seed: int = 0) -> dict:
    """Train and score one configuration in one place ("screen" or "splitK"), unless saved.
    On the screen, another `screen_seed` trains the same configuration on the same cells again
    with other random numbers (saved as "<name>, seed <k>"): how far two runs differ."""
    screen = where == "screen"
    seed = screen_seed if screen else int(where.removeprefix("split"))
    config = CONFIGS[name]
    if screen and seed:
        name = f"{name}, seed {seed}"
    path = result_path(where, name)
    if path.exists() and not force:
        print(f"{where} {name}: saved already ({path.name}); --force runs it again", flush=True)
        return json.loads(path.read_text())
    items = screen_split() if screen else protocol_split(seed)
    print(f"{where} {name}: {config} on {int((~items.is_valid).sum())} cells, "
          f"{int(items.is_valid.sum())} held out", flush=True)
    run = (svm_predict(items, config, seed) if config.features else
           train_and_predict(items, config, seed, validate=screen, where=where, name=name))
    held = items[items["is_valid"]]
    run.update({"config": asdict(config), "name": name, "where": where, "seed": seed,
                "cells": held.index.tolist(), "scores": score_run(run, held),
                "threads": tl.runtime.THREADS, "environment": tl.runtime.environment()})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))
    print(f"{where} {name}: {json.dumps(run['scores'])}, fit {run['fit_seconds'] / 60:.1f} min", flush=True)
    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("screen", "run", "summary"))
    parser.add_argument("configs", nargs="*", help=f"any of: {', '.join(CONFIGS)} (none: screen all of them, "
                        "or run ON_SPLITS on the splits)")
    parser.add_argument("--splits", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--force", action="store_true", help="run again what is saved already")
    parser.add_argument("--seed", type=int, default=0, help="screen only: train again with another seed")
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown}; known: {', '.join(CONFIGS)}")
    if args.command == "summary":
        from elpv_summary import main as summary   # the tables: a module of their own
        return summary()
    tl.runtime.set_threads()
    if args.command == "screen":
        todo = [(name, "screen", seed) for name in args.configs for seed in [args.seed]] or \
               [(name, "screen", seed) for name in CONFIGS for seed in SCREEN_SEEDS.get(name, (0,))]
    else:
        todo = [(name, f"split{k}", 0) for name in args.configs or ON_SPLITS for k in args.splits]
    for name, where, seed in todo:
        execute(name, where, args.force, seed)


if __name__ == "__main__":
    main()
