"""Every figure the course shows. Each function returns its matplotlib Figure.

Functions take the DataFrames that evaluate.py and models.py produce, so a
figure can always be checked against the table printed beside it.
Introduced in notebook 00.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import numpy as np
import pandas as pd

from .checks import TITLE, checked, number, whole

COLUMNS = whole(1, hint="pictures per row")


def _finish(fig: plt.Figure, ax, title: str, grid: bool = True) -> plt.Figure:
    # How every figure with one main axes ends: its title, a light grid, a tight layout.
    ax.set_title(title)
    if grid:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@checked(columns=COLUMNS)
def top_k_predictions(photos: dict, predictions: pd.DataFrame, columns: int = 4) -> plt.Figure:
    """Each photo with a bar chart of its top-k ImageNet classes (notebook 00)."""
    names = list(photos)
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows * 2, columns, figsize=(3.2 * columns, 4.6 * rows),
                             gridspec_kw={"height_ratios": [3, 2] * rows})
    for i, name in enumerate(names):
        image_ax, bar_ax = axes[2 * (i // columns), i % columns], axes[2 * (i // columns) + 1, i % columns]
        image_ax.imshow(photos[name])
        image_ax.set_title(name)
        top = predictions[predictions["photo"] == name].sort_values("rank", ascending=False)
        bar_ax.barh(top["class"], top["probability"], color="tab:blue")
        bar_ax.set_xlim(0, 1)
        bar_ax.tick_params(labelsize=8)
    for ax in axes.flat:
        if not ax.has_data():
            ax.axis("off")
        elif ax.images:
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


@checked(title=TITLE, unit=TITLE)
def data_efficiency_curve(table: pd.DataFrame, title: str = "", unit: str = "images",
                          without_labels: dict | None = None, ylim=(0, 1)) -> plt.Figure:
    """Accuracy against labelled examples per class, one line per method (notebook 00; notebook
    05 draws it for tweets with `unit="tweets"`).

    `table` is `evaluate.data_efficiency_table(...)`; columns starting with "gain" are skipped.
    A method missing at some sizes (NaN) is drawn where it was measured. `without_labels`,
    {name: accuracy}, draws methods that need no labelled example (notebook 05's zero-shot) as
    dashed horizontal lines: a log axis has no place for zero labels. `ylim=None` fits the axis to
    the lines (notebook 02, whose methods lie within a few points of each other).
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in [c for c in table.columns if not c.startswith("gain")]:
        measured = table[method].dropna()
        ax.plot(measured.index, measured, marker="o", label=method)
    for name, accuracy in (without_labels or {}).items():
        ax.axhline(accuracy, ls="--", color="0.4", label=f"{name} (no labels)")
    ax.set_xscale("log")
    ax.set_xticks(table.index, [str(n) for n in table.index])
    ax.xaxis.set_minor_formatter(NullFormatter())   # only the measured sizes are labelled
    ax.set_xlabel(f"labelled training {unit} per class (log scale)")
    ax.set_ylabel("validation accuracy")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend()
    return _finish(fig, ax, title)


@checked(title=TITLE)
def layer_curve(table: pd.DataFrame, title: str = "", runs: pd.DataFrame | None = None) -> plt.Figure:
    """Probe accuracy against the depth of the layer it reads (notebook 01).

    `table` is `features.layer_curve(...)`: columns depth, layer, features, accuracy. `runs`, if
    given, holds other runs' curves, one row per run and one column per layer in `table`'s order
    (e.g. notebook 01's evidence): drawn thin behind this run, with their mean.
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    if runs is not None:
        if runs.shape[1] != len(table):
            raise ValueError(f"runs has {runs.shape[1]} columns for {len(table)} layers: one column per layer.")
        for i, (_, row) in enumerate(runs.iterrows()):
            ax.plot(table["depth"], row.to_numpy(float), color="0.75", lw=1, label="each run" if i == 0 else None)
        ax.plot(table["depth"], runs.to_numpy(float).mean(axis=0), color="0.3", lw=2, ls="--",
                label=f"mean of {len(runs)} runs")
    ax.plot(table["depth"], table["accuracy"], marker="o", label="this run")
    ax.set_xticks(table["depth"], [f"{l}\n({n})" for l, n in zip(table["layer"], table["features"])], fontsize=8)
    ax.set_xlabel("layer of the frozen body, input side first (feature width)")
    ax.set_ylabel("linear-probe accuracy")
    if runs is not None:
        ax.legend(fontsize=8)
    return _finish(fig, ax, title)


@checked(title=TITLE)
def embedding_scatter(coordinates: dict, labels, title: str = "") -> plt.Figure:
    """One panel per 2-D projection (e.g. {"PCA": xy, "t-SNE": xy}), points coloured by class."""
    labels = pd.Series(list(labels))
    fig, axes = plt.subplots(1, len(coordinates), figsize=(5 * len(coordinates), 4.2), squeeze=False)
    for ax, (name, xy) in zip(axes[0], coordinates.items()):
        for label in sorted(labels.unique()):
            mask = (labels == label).to_numpy()
            ax.scatter(xy[mask, 0], xy[mask, 1], s=8, alpha=0.6, label=label)
        ax.set_title(name)
        ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].legend(markerscale=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@checked(title=TITLE)
def confusion_matrix(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Heat map of `evaluate.confusion_table(...)`, counts written in the cells (notebook 02):
    scikit-learn's `ConfusionMatrixDisplay`, on the table's counts."""
    from sklearn.metrics import ConfusionMatrixDisplay
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay(table.to_numpy(), display_labels=list(table.columns)).plot(ax=ax, cmap="Blues",
                                                                                      colorbar=False)
    return _finish(fig, ax, title, grid=False)


@checked(k=whole(1, hint="images to show"), columns=COLUMNS)
def top_losses(predictions: pd.DataFrame, k: int = 8, columns: int = 4) -> plt.Figure:
    """The k validation images the model got most wrong (highest loss), titled
    predicted / true / probability of the prediction (notebook 02)."""
    from PIL import Image
    worst = predictions.sort_values("loss", ascending=False).head(k)
    rows = -(-len(worst) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False)
    for ax, (_, row) in zip(axes.flat, worst.iterrows()):
        ax.imshow(Image.open(row["path"]).convert("L"), cmap="gray")
        ax.set_title(f"{row['predicted']} / {row['label']}\n{row['probability']:.2f}, loss {row['loss']:.2f}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("top losses: predicted / true, probability, loss")
    fig.tight_layout()
    return fig


@checked(chosen=number(0, low_open=True, optional=True), skip_end=whole(0, hint="last losses left out"))
def lr_find(recorder, suggestions: dict | None = None, chosen: float | None = None,
            skip_end: int = 5) -> plt.Figure:
    """The learning-rate finder's loss against learning rate (log scale), with fastai's
    suggestions and the rate you chose marked (notebook 02). fastai's own plot does not
    return its figure. Pass a dict of recorders, {label: recorder}, to compare finder runs
    on one plot (notebook 03)."""
    curves = recorder if isinstance(recorder, dict) else {None: recorder}
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, rec in curves.items():
        ax.plot(rec.lrs[:-skip_end], [float(l) for l in rec.losses[:-skip_end]], label=label)
    for (name, lr), style in zip((suggestions or {}).items(), (":", "-.", (0, (1, 3)))):
        ax.axvline(lr, color="tab:gray", linestyle=style, label=f"{name}: {lr:.1e}")
    if chosen is not None:
        ax.axvline(chosen, color="tab:orange", linestyle="--", label=f"chosen: {chosen:.1e}")
    if suggestions or chosen is not None or len(curves) > 1:
        ax.legend()
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss (smoothed)")
    return _finish(fig, ax, "")


@checked(title=TITLE)
def severity_curve(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Accuracy against corruption severity (0 = clean), one colour per corruption type, as in
    ImageNet-C (notebook 04); with a `method` column, one line style per method. `table` is
    `shift.severity_table(...)`."""
    methods = list(dict.fromkeys(table["method"])) if "method" in table else [None]
    fig, ax = plt.subplots(figsize=(6 if methods == [None] else 8, 4))
    styles = dict(zip(methods, ["-", "--", ":", "-."]))
    colours = {}
    for method in methods:
        rows_of_method = table if method is None else table[table["method"] == method]
        for corruption, rows in rows_of_method.groupby("corruption", sort=False):
            colour = colours.setdefault(corruption, f"C{len(colours)}")
            label = corruption if method is None else f"{corruption} ({method})"
            ax.plot(rows["severity"], rows["accuracy"], marker="o", color=colour, linestyle=styles[method],
                    label=label)
    ax.set_xticks(sorted(table["severity"].unique()))
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))  # beside the axes, not over the lines
    return _finish(fig, ax, title)


@checked(title=TITLE)
def rate_sweep(table: pd.DataFrame, marks: dict | None = None, title: str = "") -> plt.Figure:
    """Accuracy against how many times smaller the body's rate is than the head's (log scale),
    one line per target (notebook 03). `table`: index the divisors, one column per target.
    `marks`, {target: {label: (divisor, accuracy)}}, draws other settings as open squares
    beside the lines (fastai's slice, whose late group gets the divisor shown)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, target in enumerate(table.columns):
        color = f"C{i}"
        ax.plot(table.index, table[target], marker="o", color=color, label=target)
        for label, (divisor, accuracy) in (marks or {}).get(target, {}).items():
            ax.plot([divisor], [accuracy], marker="s", ls="none", color=color, mfc="none", ms=9)
            ax.annotate(label, (divisor, accuracy), textcoords="offset points", xytext=(6, -12),
                        fontsize=8, color=color)
    ax.set_xscale("log")
    ax.set_xticks(table.index, [f"÷{d:g}" for d in table.index])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("the body's rate: the head's rate divided by (log scale)")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    return _finish(fig, ax, title)


@checked(title=TITLE)
def group_rates(rates, group_names, title: str = "") -> plt.Figure:
    """The learning rate of each layer group at every step (log scale): one-cycle, scaled per
    group by discriminative rates (notebook 03). `rates` is steps x groups, as GroupRates records;
    a group's line is missing where it did not train."""
    rates = np.asarray(rates)
    fig = _lines({name: rates[:, column] for column, name in enumerate(group_names)},
                 "learning rate (log scale)", title)
    fig.axes[0].set_yscale("log")
    return fig


@checked(title=TITLE)
def body_distance(curves: dict, title: str = "") -> plt.Figure:
    """How far the body's weights moved from the pretrained ones, ||theta - theta_s||, after
    every training step; one line per method (notebook 03)."""
    return _lines(curves, "distance from the pretrained body", title)


def _lines(curves: dict, ylabel: str, title: str) -> plt.Figure:
    # One line per named series, counted in training steps from 1.
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.legend()
    return _finish(fig, ax, title)


@checked(title=TITLE)
def what_trains(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Held-out accuracy against trainable parameters (log scale), one panel per target, and the
    seconds each method trained beside them (notebook 06). `table`: one row per (target, method),
    columns target, method, trainable, accuracy, seconds; a row with 0 trainable parameters
    (zero-shot) is drawn as a dashed line across its target's panel."""
    targets = list(dict.fromkeys(table["target"]))
    fig, axes = plt.subplots(1, len(targets) + 1, figsize=(5 * len(targets) + 4, 4),
                             gridspec_kw={"width_ratios": [3] * len(targets) + [2]})
    time_ax = axes[-1]
    for i, (target, acc_ax) in enumerate(zip(targets, axes)):
        rows = table[table["target"] == target]
        color, trained = f"C{i}", rows[rows["trainable"] > 0].sort_values("trainable")
        acc_ax.plot(trained["trainable"], trained["accuracy"], marker="o", color=color)
        for j, (_, row) in enumerate(trained.iterrows()):   # labels below and above in turn: neighbours stay apart
            acc_ax.annotate(row["method"], (row["trainable"], row["accuracy"]), textcoords="offset points",
                            xytext=(0, -14 if j % 2 == 0 else 8), ha="center", fontsize=8, color=color)
        for _, row in rows[rows["trainable"] == 0].iterrows():
            acc_ax.axhline(row["accuracy"], ls="--", color="grey", lw=1, label=row["method"])
            acc_ax.legend(fontsize=8, loc="lower right")
        acc_ax.set_xscale("log")
        acc_ax.set_xlabel("trainable parameters (log scale)")
        acc_ax.set_ylabel("held-out accuracy")
        acc_ax.set_ylim(0, 1)
        acc_ax.grid(alpha=0.3)
        acc_ax.set_title(f"{target}" + (f" ({title})" if title else ""))
        time_ax.barh([f"{target}: {m}" for m in trained["method"]], trained["seconds"], color=color)
    time_ax.set_xlabel("seconds to train")
    time_ax.invert_yaxis()
    time_ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


@checked(title=TITLE)
def memory_bars(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """What a training step holds, in MB, stacked by kind (parameters, gradients, optimizer state,
    activations), one bar per method (notebook 06; `efficient.memory`). `table`: index the
    methods, one column per kind, in bytes."""
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(table) + 1.5))
    left = np.zeros(len(table))
    for kind in table.columns:
        ax.barh(table.index, table[kind] / 1e6, left=left, label=kind)
        left += table[kind].to_numpy() / 1e6
    ax.set_xlabel("MB held by one training step (float32)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    return _finish(fig, ax, title, grid=False)
