"""Evidence over seeds: each notebook run under several seeds, its recorded figures kept per run,
and the one rule by which the course calls a claim held. Introduced in notebook 00 ("How sure
are we?"); the claim tests (tests/test_claims.py) use the same rule.

    make evidence                      # every notebook, five runs each (python -m tlcourse.maintain.evidence)
    make evidence NOTEBOOKS="02 05"    # only these notebooks

A run is one execution of a notebook with papermill. The first run of each notebook is the
committed notebook itself: run in place, with no parameter injected (its default seed). The
others inject another `seed`, or, for a notebook that averages seeds inside (its parameters
cell has `seeds`), another set of as many seeds, disjoint from every other run's: for notebook
03 the runs are seeds [0, 1, 2] (the default), [3, 4, 5], ... [12, 13, 14], and one unit of
evidence is the mean over one set, the figure that notebook prints.

What is written, per notebook, in `evidence/`:
    <notebook>.csv    run, seed, figure, value: every recorded figure of every run ("seed" lists
                      a set's seeds, "0 1 2")
    <notebook>.json   the parameters cell's values the runs were made with, each run's seeds,
                      injected parameters and wall time, and the run environment

Executed copies of the other runs go to runs/evidence/<notebook>/; a run whose copy is there,
made from the same notebook code and library, is not run again, so a stopped `make evidence`
loses at most the run it was in. Making evidence is a maintainer's tool
(tlcourse/maintain/evidence.py); this module reads it and holds the rule.

The rule (README, "How the course judges a claim"). Over the runs, take the paired differences
d = a - b (a and b are two figures of one run, or a figure and a fixed number):
- "a is ahead of b" holds when d > 0 in at least 4 of 5 runs (`WINS` of the runs) and the mean
  of d exceeds twice its standard error over runs;
- a trend ("shrinks as labels grow") holds when every adjacent pair passes that rule;
- "a and b are level" holds when the mean of d, plus or minus twice its standard error, lies
  within a margin written down before the runs (`MARGIN`: 2 points of accuracy);
- "undecided" is all that can be said when neither holds.

Not about: what the notebooks compute (each notebook), or executing them (tlcourse/maintain/).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .checks import checked, number, text
from .results import RECORDED, varies

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = Path(os.environ.get("TLCOURSE_EVIDENCE", ROOT / "evidence"))
NOTEBOOKS = ROOT / "notebooks"
RUNS = 5            # runs per notebook
WINS = 0.8          # the share of runs on which a directional claim must hold: 4 of 5
MARGIN = 0.02       # "level": within 2 points of accuracy, mean difference +- 2 standard errors
COMMAND = "make evidence NOTEBOOKS={number}"
MARGIN_RULE = number(0, low_open=True, hint="a difference in accuracy, e.g. 0.02")


# --------------------------------------------------------------------------- the rule

@dataclass
class Verdict:
    """What the runs say about one relation between two figures (see the module's rule)."""
    claim: str          # "ahead", "level", "undecided", "at least" or "same"
    a: str
    b: str
    differences: list   # a - b (or a / b for "at least"), one per run
    holds: bool
    margin: float | None = None

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return sum(self.differences) / self.n

    @property
    def std(self) -> float:
        if self.n < 2:
            return float("nan")
        return math.sqrt(sum((d - self.mean) ** 2 for d in self.differences) / (self.n - 1))

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n)

    @property
    def wins(self) -> int:
        return sum(d > 0 for d in self.differences)

    def __bool__(self) -> bool:
        return self.holds

    def __str__(self) -> str:
        if self.claim == "at least":
            return (f"{self.a} / {self.b} >= {self.margin:g} on {sum(d >= self.margin for d in self.differences)} "
                    f"of {self.n} runs (lowest {min(self.differences):.2f}): "
                    + ("holds" if self.holds else "does NOT hold"))
        if self.claim == "same":
            return (f"{self.a} == {self.b} on {int(sum(self.differences))} of {self.n} runs: "
                    + ("holds" if self.holds else "does NOT hold"))
        relation = {"ahead": "ahead of", "level": f"level (within {self.margin}) with",
                    "undecided": "not told apart from"}[self.claim]
        return (f"{self.a} {relation} {self.b}: difference {self.mean:+.3f} +- {2 * self.se:.3f} (2 SE), "
                f"ahead on {self.wins} of {self.n} runs: " + ("holds" if self.holds else "does NOT hold"))


def _column(table: pd.DataFrame, figure) -> tuple[str, list]:
    if isinstance(figure, str):
        if figure not in table:
            raise KeyError(f"No figure {figure!r} in the evidence; it has {sorted(table.columns)}.")
        return figure, [float(v) for v in table[figure]]
    return f"{figure:g}", [float(figure)] * len(table)


def _differences(table, a, b):
    name_a, values_a = _column(table, a)
    name_b, values_b = _column(table, b)
    return name_a, name_b, [x - y for x, y in zip(values_a, values_b)]


def ahead(table: pd.DataFrame, a, b) -> Verdict:
    """Is figure `a` ahead of `b` (a figure or a number) by the course's rule? `table`: one row
    per run, one column per figure (`load` or `runs`)."""
    name_a, name_b, d = _differences(table, a, b)
    verdict = Verdict("ahead", name_a, name_b, d, False)
    if len(d) >= 2:
        verdict.holds = verdict.wins >= math.ceil(WINS * len(d)) and verdict.mean > 2 * verdict.se
    return verdict


@checked(margin=MARGIN_RULE)
def level(table: pd.DataFrame, a, b, margin: float = MARGIN) -> Verdict:
    """Are `a` and `b` level: mean difference +- twice its standard error within +-`margin`?"""
    name_a, name_b, d = _differences(table, a, b)
    verdict = Verdict("level", name_a, name_b, d, False, margin)
    if len(d) >= 2:
        verdict.holds = abs(verdict.mean) + 2 * verdict.se <= margin
    return verdict


def trend(table: pd.DataFrame, figures: list) -> list[Verdict]:
    """Does each figure lead the next ("shrinks as ... grows")? One verdict per adjacent pair."""
    return [ahead(table, a, b) for a, b in zip(figures, figures[1:])]


@checked(a=text(), b=text(), factor=number(0, low_open=True))
def at_least(table: pd.DataFrame, a: str, b: str, factor: float) -> Verdict:
    """Is `a` at least `factor` times `b` on every run? For durations measured in the same run,
    where only a wide ratio means anything."""
    name_a, values_a = _column(table, a)
    name_b, values_b = _column(table, b)
    ratios = [x / max(y, 1e-9) for x, y in zip(values_a, values_b)]
    return Verdict("at least", name_a, name_b, ratios, all(r >= factor for r in ratios), factor)


@checked(margin=MARGIN_RULE)
def undecided(table: pd.DataFrame, a, b, margin: float = MARGIN) -> Verdict:
    """Neither is ahead of the other and they are not level: all the runs can say is that they
    do not tell `a` and `b` apart (which is not the claim that they are equal)."""
    name_a, name_b, d = _differences(table, a, b)
    holds = not (ahead(table, a, b) or ahead(table, b, a) or level(table, a, b, margin))
    return Verdict("undecided", name_a, name_b, d, holds, margin)


@checked(figure=text())
def same(table: pd.DataFrame, figure: str, value) -> Verdict:
    """Is `figure` equal to `value` on every run (a name, such as a photo's top-1 class)?"""
    if figure not in table:
        raise KeyError(f"No figure {figure!r} in the evidence; it has {sorted(table.columns)}.")
    matches = [1.0 if v == value else 0.0 for v in table[figure]]
    return Verdict("same", figure, repr(value), matches, all(matches))


# --------------------------------------------------------------------------- reading evidence

def notebook_stem(notebook) -> str:
    """A notebook's file stem from its number or name: "00" -> "00_concepts"."""
    name = Path(str(notebook)).stem
    matches = sorted(p.stem for p in NOTEBOOKS.glob(f"{name}*.ipynb")) if len(name) <= 2 else [name]
    if len(matches) != 1:
        raise ValueError(f"{notebook!r} names no single notebook in {NOTEBOOKS}.")
    return matches[0]


def _wide(long: pd.DataFrame) -> pd.DataFrame:
    table = long.pivot_table(index=["run", "seed"], columns="figure", values="value", aggfunc="first")
    table = table.reset_index().set_index("run").sort_index()
    table.columns.name = None
    for name in table.columns.drop("seed"):
        try:
            table[name] = pd.to_numeric(table[name])
        except (ValueError, TypeError):
            pass   # a name, such as the top-1 class of a photo
    return table


def load(notebook) -> pd.DataFrame:
    """One row per run of `notebook` ("00" or "00_concepts"), one column per recorded figure."""
    stem = notebook_stem(notebook)
    path = EVIDENCE / f"{stem}.csv"
    if not path.exists():
        raise FileNotFoundError(f"No evidence for {stem}: run {COMMAND.format(number=stem[:2])}.")
    return _wide(pd.read_csv(path, dtype={"seed": str, "value": str}))


def meta(notebook) -> dict:
    """What `notebook`'s evidence was made with: parameters, runs, run environment."""
    stem = notebook_stem(notebook)
    return json.loads((EVIDENCE / f"{stem}.json").read_text())


def seed_label(seeds) -> str:
    """How a run's seed or seed set is written in the evidence: 3, or "0 1 2"."""
    return " ".join(str(s) for s in seeds) if isinstance(seeds, (list, tuple)) else str(seeds)


def runs(notebook, namespace: dict) -> pd.DataFrame:
    """This kernel's run beside the evidence's other runs: one row per run, one column per figure.

    Called from a notebook after its experiments, as `evidence.runs("00_concepts", globals())`:
    the figures the notebook recorded (`record`) stand for the run with its `seed` (or `seeds`),
    and the evidence file supplies the runs with other seeds (and the durations of this seed's run,
    which differ at every run). A learner who changed a parameter
    other than the seed gets this run alone: the evidence was made with the committed values."""
    seeds = namespace.get("seeds", namespace.get("seed"))
    mine = pd.DataFrame([{**RECORDED, "seed": seed_label(seeds)}])
    try:
        others, made = load(notebook), meta(notebook)
    except FileNotFoundError:
        return mine
    changed = [name for name, value in made["parameters"].items()
               if name not in ("seed", "seeds") and name in namespace and repr(namespace[name]) != value]
    if changed:
        print(f"You changed {', '.join(changed)}: the course's evidence was made with the committed values, "
              "so only this run is shown.")
        return mine
    # Durations vary from run to run; this run's would make the printed tables differ at every run (and
    # nbval could not compare them), so they come from the evidence's run with the same seed.
    same = others[others["seed"] == seed_label(seeds)]
    if len(same):   # (without it, this is the evidence's own run being made: its durations are the evidence's)
        for name in [c for c in mine.columns if varies(c)]:
            mine[name] = same[name].iloc[0] if name in same else float("nan")
    others = others[others["seed"] != seed_label(seeds)]
    return pd.concat([mine, others], ignore_index=True)


def spread(table: pd.DataFrame, figures: list) -> pd.DataFrame:
    """Mean, standard deviation and range of `figures` over the runs in `table`."""
    rows = [{"figure": f, "runs": table[f].count(), "mean": table[f].mean(), "std": table[f].std(),
             "lowest": table[f].min(), "highest": table[f].max()} for f in figures]
    return pd.DataFrame(rows).set_index("figure")


def verdicts(checks: list) -> pd.DataFrame:
    """A table of verdicts, for a notebook to show which of its comparisons the runs support."""
    rows = []
    for v in checks:
        if v.claim == "at least":
            rows.append({"claim": f"{v.a} >= {v.margin:g} x {v.b}", "mean": v.mean, "2 SE": float("nan"),
                         "runs": f"{sum(d >= v.margin for d in v.differences)} of {v.n} at {v.margin:g}x or more",
                         "holds": v.holds})
            continue
        if v.claim == "same":
            rows.append({"claim": f"{v.a} == {v.b}", "mean": float("nan"), "2 SE": float("nan"),
                         "runs": f"{int(sum(v.differences))} of {v.n} equal", "holds": v.holds})
            continue
        sign = {"ahead": ">", "level": "~", "undecided": "?"}[v.claim]
        rows.append({"claim": f"{v.a} {sign} {v.b}", "mean": v.mean, "2 SE": 2 * v.se,
                     "runs": f"{v.wins} of {v.n} ahead", "holds": v.holds})
    return pd.DataFrame(rows).set_index("claim")


def show(table: pd.DataFrame, figures: list, checks: list) -> None:
    """Print what the runs in `table` measured (`spread` of `figures`) and which of `checks` (verdicts
    of `ahead`, `level`, ...) hold by the course's rule: the notebooks' "How sure are we?" cells.
    In the second table "mean" is the mean difference A - B over the runs (for a ratio, A / B)."""
    others = len(table) - 1
    seeds = list(table["seed"])
    word = "seeds" if " " in str(seeds[0]) else "seed"
    print(f"{len(table)} runs: this one ({word} {seeds[0]})" + (
        f" and {others} more from the course's evidence (make evidence; {word} {', '.join(seeds[1:])})"
        if others else " (no evidence file found)"))
    three = lambda value: f"{value:.3g}"   # three significant digits: accuracies and learning rates alike
    with pd.option_context("display.width", 140, "display.max_columns", 20, "display.max_colwidth", 80):
        print(spread(table, figures).to_string(float_format=three))
        if checks:
            print(f"\nBy the course's rule (ahead on at least {math.ceil(WINS * len(table))} of {len(table)} runs "
                  f"and by more than twice the standard error; level: within {MARGIN} either way;\n"
                  f"?: neither, the runs do not tell them apart). mean: the mean difference over the runs.")
            print(verdicts(checks).to_string(float_format=three, na_rep=""))
