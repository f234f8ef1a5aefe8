"""ELPV, the published protocol: functional vs defective, 1,968 cells to train, 656 to test.

Deitsch et al. 2019 (the dataset's authors) report 88.42 % accuracy for a fine-tuned
ImageNet VGG-19 on a GPU and 82.44 % for an SVM on hand-crafted features. This script
runs the same protocol on this machine's CPU with the course's own functions:

1. feature extraction: cached EfficientNet-Lite0 features + a logistic-regression probe
   (its C chosen by 5-fold cross-validation on the training cells only), on the last
   layer, on each layer, and on all layers' features side by side;
2. fine-tuning: EfficientNet-Lite0, fastai's freeze -> unfreeze recipe, one-cycle,
   the course's cell augmentations.

    .venv/bin/python benchmarks/elpv_deitsch.py              # about 30 min on 2 CPU cores
    .venv/bin/python benchmarks/elpv_deitsch.py --size 160 --epochs 6

Results go to benchmarks/results/elpv_deitsch.json (and are printed). The split is
stratified by defect grade and cell type with a fixed seed: Deitsch et al. stratify
too, but their exact cells are not published, so the test cells differ from theirs.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split

import tlcourse as tl
from tlcourse import features, training
from tlcourse.data import cell_augmentations, dls_from_items

PUBLISHED = {"VGG-19 fine-tuned, GPU (Deitsch et al. 2019)": 0.8842,
             "SVM on hand-crafted features (Deitsch et al. 2019)": 0.8244}
OUT = Path(__file__).parent / "results" / "elpv_deitsch.json"


def protocol_split(seed: int = 0):
    """75 % / 25 % of all 2,624 cells, stratified by the four defect grades and the cell type."""
    items = tl.load_items("elpv")
    grades = tl.load_items("elpv", target="probability")["label"]
    strata = grades + "/" + items["domain"]
    _, test = train_test_split(np.arange(len(items)), test_size=656, stratify=strata, random_state=seed)
    items["is_valid"] = False
    items.loc[test, "is_valid"] = True
    return items


def _probe(x, items) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = ~items["is_valid"].to_numpy(bool)
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
                          {"logisticregression__C": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]}, cv=5)
    search.fit(x[train], items["label"][train])
    result = features.fit_probe(search.best_estimator_, x, items, "linear probe")
    y_valid = items["label"][~train].to_numpy()
    return {"accuracy": result["accuracy"], "features": x.shape[1],
            "balanced_accuracy": balanced_accuracy_score(y_valid, result["predictions"]),
            "C": search.best_params_["logisticregression__C"]}


def probe(items, size: int) -> dict:
    """A probe on the last layer's features, on each layer's, and on all layers side by side."""
    start = time.perf_counter()
    layers = features.layer_names()
    x = features.extract_features(items, "elpv", layers=layers, size=size)
    extract_seconds = time.perf_counter() - start
    report = {"extract_seconds": extract_seconds, "layers": {}}
    for layer in layers:
        report["layers"][layer] = _probe(x[layer], items)
        print(f"  probe on {layer}: {report['layers'][layer]}", flush=True)
    report["all_layers"] = _probe(np.hstack([x[layer] for layer in layers]), items)
    report["last_layer"] = report["layers"][layers[-1]]
    report["seconds"] = time.perf_counter() - start
    return report


def fine_tune(items, size: int, epochs: int, freeze_epochs: int, lr: float, seed: int) -> dict:
    dls = dls_from_items(items, size=size, seed=seed, bs=32, batch_tfms=cell_augmentations())
    learn = tl.create_learner(dls, "efficientnet_lite0", pretrained=True)
    result = training.fine_tune(learn, epochs, base_lr=lr, freeze_epochs=freeze_epochs, seed=seed)
    with learn.no_bar():
        probs, targets = learn.get_preds()
    result["balanced_accuracy"] = balanced_accuracy_score(targets.numpy(), probs.argmax(1).numpy())
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=9, help="epochs after unfreezing")
    parser.add_argument("--freeze-epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("probe", "fine_tune"), help="run one part; the other's results are kept")
    args = parser.parse_args(argv)

    items = protocol_split(args.seed)
    counts = items.groupby("is_valid")["label"].value_counts().to_dict()
    print(f"split: {int((~items.is_valid).sum())} train, {int(items.is_valid.sum())} test; {counts}", flush=True)
    report = json.loads(OUT.read_text()) if OUT.exists() else {}
    report.update({"protocol": "elpv functional vs defective, 75/25 stratified by grade and cell type",
                   "seed": args.seed, "threads": tl.runtime.THREADS,
                   "device": str(tl.runtime.device()), "environment": tl.runtime.environment(),
                   "published": PUBLISHED})
    if args.only in (None, "probe"):
        report["probe"] = {"size": args.size, **probe(items, args.size)}
        print("probe, last layer:", report["probe"]["last_layer"], flush=True)
        print("probe, all layers:", report["probe"]["all_layers"], flush=True)
    if args.only in (None, "fine_tune"):
        result = fine_tune(items, args.size, args.epochs, args.freeze_epochs, args.lr, args.seed)
        report["fine_tune"] = {"size": args.size, "accuracy": result["accuracy"], "balanced_accuracy": result["balanced_accuracy"],
                               "seconds": result["seconds"], "epochs": args.epochs,
                               "freeze_epochs": args.freeze_epochs, "lr": args.lr}
        print("fine-tune:", report["fine_tune"], flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
