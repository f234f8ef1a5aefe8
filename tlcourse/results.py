"""Record a notebook's headline figures, so the maintainer's `run` can gather them and tests can check claims.

`record(...)` prints the figures as plain text (what a learner reads and nbval
compares) and stores their exact values in the output's metadata (what
`maintain.run.collect` and the claim tests read; nbval ignores metadata). Introduced in
notebook 00.
"""
from __future__ import annotations

import numbers

from IPython.display import display

from .runtime import format_seconds

METADATA_KEY = "tlcourse_record"
# Everything recorded so far in this process (a notebook's kernel): what `evidence.runs` sets
# beside the other seeds' runs.
RECORDED: dict = {}


def _show(name: str, value) -> str:
    if name.endswith("_seconds"):
        return format_seconds(value)  # the nbval sanitizer masks durations written this way
    if name.endswith("_per_second"):
        return f"{value:.1f} per s"   # a speed: it varies from run to run, and is masked too
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _plain(name: str, value):
    # JSON-safe Python values: numpy scalars become int / float.
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"record() takes numbers and strings; {name!r} is a {type(value).__name__}.")


def record(hidden: bool = False, **figures) -> None:
    """Record named figures (numbers or short strings), e.g. `record(transfer_acc=0.91)`.
    `hidden=True` records without printing the values: an exercise's measurement, which the
    learner should not see before predicting it (the evidence still collects it)."""
    figures = {name: _plain(name, value) for name, value in figures.items()}
    RECORDED.update(figures)
    text = "\n".join(f"recorded {name}" + (" (its value is not shown here)" if hidden else f" = {_show(name, value)}")
                     for name, value in figures.items())
    display({"text/plain": text}, raw=True, metadata={METADATA_KEY: figures})


def recorded(notebook) -> dict:
    """All figures recorded in an executed notebook (a path or an nbformat object)."""
    import nbformat
    nb = nbformat.read(notebook, as_version=4) if not hasattr(notebook, "cells") else notebook
    figures = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            figures.update(output.get("metadata", {}).get(METADATA_KEY, {}))
    return figures


def varies(name: str) -> bool:
    # Durations and speeds differ from run to run; the printed figures nbval masks too.
    return name.endswith(("_seconds", "_per_second"))


def changed(before: dict, after: dict) -> list[tuple[str, str | None, str | None]]:
    """Recorded figures that differ between two sets of them, compared as `record` prints them
    (4 decimals; durations and speeds are left out): (name, before, after) as printed, None on
    the side that lacks the figure."""
    found = []
    for name in sorted(set(before) | set(after)):
        if varies(name):
            continue
        old = _show(name, before[name]) if name in before else None
        new = _show(name, after[name]) if name in after else None
        if old != new:
            found.append((name, old, new))
    return found
