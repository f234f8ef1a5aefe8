"""Every figure the course shows. Each function returns its matplotlib Figure.

Functions take the DataFrames that evaluate.py and models.py produce, so a
figure can always be checked against the table printed beside it.
Introduced in notebook 00.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


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


def data_efficiency_curve(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Accuracy against labelled images per class, one line per method (notebook 00).

    `table` is `evaluate.data_efficiency_table(...)`; columns starting with "gain" are skipped.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in [c for c in table.columns if not c.startswith("gain")]:
        ax.plot(table.index, table[method], marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xticks(table.index, [str(n) for n in table.index])
    ax.set_xlabel("labelled training images per class (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    return fig
