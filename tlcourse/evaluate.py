"""Metrics and comparison tables: pure functions on result rows, returning DataFrames.

A result row is the dict a `training` function returns (method, accuracy,
seconds, ...) plus whatever the notebook adds (the number of labels, a seed).
No plotting here: plots.py draws these tables. Introduced in notebook 00.
"""
from __future__ import annotations

import pandas as pd


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
