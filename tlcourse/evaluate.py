"""Metrics and comparison tables: pure functions on result rows, returning DataFrames.

A result row is the dict a `training` function returns (method, accuracy,
seconds, ...) plus whatever the notebook adds (the number of labels, a seed).
No plotting here: plots.py draws these tables. Introduced in notebook 00.
"""
from __future__ import annotations

import pandas as pd


def comparison_table(rows: list[dict], index: str = "method", digits: int = 3) -> pd.DataFrame:
    """Result rows side by side, one row per `index` value, numbers rounded for printing."""
    if not rows:
        raise ValueError("No results to compare: train at least one model first.")
    return pd.DataFrame(rows).set_index(index).round(digits)


def data_efficiency_table(rows: list[dict], digits: int = 3) -> pd.DataFrame:
    """Accuracy per number of labels per class (rows) and method (columns), plus the gap
    between the first two methods: the table behind notebook 00's curve."""
    table = pd.DataFrame(rows).pivot(index="n_per_class", columns="method", values="accuracy")
    methods = list(dict.fromkeys(row["method"] for row in rows))
    table = table[methods]
    if len(methods) >= 2:
        table[f"gain of {methods[0]}"] = table[methods[0]] - table[methods[1]]
    return table.round(digits)
