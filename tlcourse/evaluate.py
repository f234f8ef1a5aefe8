"""Metrics and comparison tables: result rows in, DataFrames out; accuracy across domains.

A result row is the dict a `training` function returns (method, accuracy,
seconds, ...) plus whatever the notebook adds (the number of labels, a seed).
`domain_accuracy` scores one learner on several domains (notebooks 04 and 05).
No plotting here: plots.py draws these tables. Introduced in notebook 00.
"""
from __future__ import annotations

import pandas as pd

from .checks import SEED, TITLE, checked, number, text, whole
from .runtime import format_seconds

DIGITS = whole(0, hint="decimal places")


@checked(digits=DIGITS)
def data_efficiency_table(rows: list[dict], digits: int = 3) -> pd.DataFrame:
    """Accuracy per number of labels per class (rows) and method (columns), plus the gain
    of the first method over the second: the table behind notebook 00's curve."""
    if not rows:
        raise ValueError("No results to tabulate: train at least one model first.")
    table = pd.DataFrame(rows).pivot(index="n_per_class", columns="method", values="accuracy")
    methods = list(dict.fromkeys(row["method"] for row in rows))
    table = table[methods]
    if len(methods) >= 2:
        table[f"gain of {methods[0]}"] = table[methods[0]] - table[methods[1]]
    return table.round(digits)


@checked(digits=DIGITS)
def comparison_table(rows: list[dict], digits: int = 3) -> pd.DataFrame:
    """Methods side by side: accuracy and wall time, one row per method, in the order given
    (notebook 02's BatchNorm rules side by side)."""
    if not rows:
        raise ValueError("No results to compare: train at least one model first.")
    table = pd.DataFrame(rows).set_index("method")[["accuracy", "seconds"]]
    table["accuracy"] = table["accuracy"].round(digits)
    # Durations printed as "12.3 s" in a column wider than any of them: nbval's sanitizer
    # masks the figure and the table's layout does not change from run to run.
    table["wall time"] = table.pop("seconds").map(format_seconds)
    return table


@checked(digits=DIGITS)
def seed_table(rows: list[dict], digits: int = 3) -> pd.DataFrame:
    """Accuracy per method over seeds: each seed's, their mean and standard deviation, and
    the mean wall time; methods in the order given (notebook 03's ablation)."""
    if not rows:
        raise ValueError("No results to tabulate: train at least one model first.")
    frame = pd.DataFrame(rows)
    methods = list(dict.fromkeys(frame["method"]))
    table = frame.pivot(index="method", columns="seed", values="accuracy").loc[methods]
    table.columns = [f"seed {seed}" for seed in table.columns]
    grouped = frame.groupby("method", sort=False)
    table["mean"] = grouped["accuracy"].mean()
    table["std"] = grouped["accuracy"].std(ddof=1)   # between seeds; NaN with one seed
    table = table.round(digits)
    table["wall time (mean)"] = grouped["seconds"].mean().map(format_seconds)
    return table


def validation_predictions(learn) -> pd.DataFrame:
    """One row per validation image: its path, true label, predicted label, the predicted
    class's probability and the loss (notebook 02). The source of the confusion matrix
    and of the top losses."""
    with learn.no_bar():
        probs, targets, losses = learn.get_preds(with_loss=True)  # per image, the learner's own loss
    vocab = list(learn.dls.vocab)
    items = learn.dls.valid.items
    return pd.DataFrame({
        "path": list(items["path"]),
        "label": [vocab[int(t)] for t in targets],
        "predicted": [vocab[int(p)] for p in probs.argmax(1)],
        "probability": probs.max(1).values.numpy(),
        "loss": losses.numpy(),
    })


def confusion_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Counts of true (rows) against predicted (columns) labels."""
    labels = sorted(set(predictions["label"]) | set(predictions["predicted"]))
    table = pd.crosstab(pd.Categorical(predictions["label"], labels), pd.Categorical(predictions["predicted"], labels),
                        rownames=["true"], colnames=["predicted"], dropna=False)
    return table


def accuracy_of(predictions: pd.DataFrame) -> float:
    return float((predictions["label"] == predictions["predicted"]).mean())


# --------------------------------------------------------------------------- across domains

def domain_batches(learn, name: str, items):
    """Labelled batches for one domain: a table of items goes through the learner's own
    preprocessing (`test_dl`); batches made elsewhere (e.g. `feature_batches`) pass as given."""
    if not isinstance(items, pd.DataFrame):
        return items
    unknown = set(items["label"]) - set(learn.dls.vocab)
    if unknown:
        raise ValueError(f"Domain {name!r} has labels the model never saw: {sorted(unknown)}.")
    return learn.dls.test_dl(items, with_labels=True)


def domain_accuracy(learn, domains: dict) -> pd.DataFrame:
    """Accuracy of one learner on several domains: {"name": items with path and label}, or
    {"name": labelled batches} (e.g. `feature_batches` of cached embeddings).

    Labels must come from the learner's vocabulary (the same classes in every domain).
    """
    rows = []
    for name, items in domains.items():
        dl = domain_batches(learn, name, items)
        with learn.no_bar():
            _, accuracy = learn.validate(dl=dl)
        rows.append({"domain": name, "images": len(dl.dataset), "accuracy": float(accuracy)})
    return pd.DataFrame(rows).set_index("domain")


@checked(method=TITLE, seed=SEED, seconds=number(0, nan=True, hint="NaN: a run timed elsewhere"), target=text())
def adaptation_row(learn, method: str, seed: int, domains: dict, seconds: float, target: str = "target") -> dict:
    """One result row for a comparison over seeds (`evaluate.seed_table`): `accuracy` is the
    accuracy on the `target` domain; every domain's accuracy is kept too (notebook 04)."""
    accuracy = domain_accuracy(learn, domains)["accuracy"]
    if target not in accuracy:
        raise ValueError(f"No domain named {target!r} among {list(accuracy.index)}.")
    return {"method": method, "seed": seed, "accuracy": accuracy[target], "seconds": seconds,
            **{f"{name} accuracy": value for name, value in accuracy.items()}}
