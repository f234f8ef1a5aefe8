"""Evidence over seeds: each notebook run under several seeds, its recorded figures kept per run,
and the one rule by which the course calls a claim held. Introduced in notebook 00 ("How sure
are we?"); the claim tests (tests/test_claims.py) use the same rule.

    python -m tlcourse.evidence                  # every notebook, five runs each (make evidence)
    python -m tlcourse.evidence 02 05            # only these notebooks (make evidence NOTEBOOKS="02 05")

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
loses at most the run it was in.

The rule (README, "How the course judges a claim"). Over the runs, take the paired differences
d = a - b (a and b are two figures of one run, or a figure and a fixed number):
- "a is ahead of b" holds when d > 0 in at least 4 of 5 runs (`WINS` of the runs) and the mean
  of d exceeds twice its standard error over runs;
- a trend ("shrinks as labels grow") holds when every adjacent pair passes that rule;
- "a and b are level" holds when the mean of d, plus or minus twice its standard error, lies
  within a margin written down before the runs (`MARGIN`: 2 points of accuracy);
- "undecided" is all that can be said when neither holds.

Not about: what the notebooks compute (each notebook), or executing them for `make run`
(`tlcourse.run`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .results import RECORDED, _varies, changed, recorded
from .runtime import environment, format_seconds

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = Path(os.environ.get("TLCOURSE_EVIDENCE", ROOT / "evidence"))
NOTEBOOKS = ROOT / "notebooks"
RUNS = 5            # runs per notebook
WINS = 0.8          # the share of runs on which a directional claim must hold: 4 of 5
MARGIN = 0.02       # "level": within 2 points of accuracy, mean difference +- 2 standard errors
COMMAND = "make evidence NOTEBOOKS={number}"


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


def at_least(table: pd.DataFrame, a: str, b: str, factor: float) -> Verdict:
    """Is `a` at least `factor` times `b` on every run? For durations measured in the same run,
    where only a wide ratio means anything."""
    name_a, values_a = _column(table, a)
    name_b, values_b = _column(table, b)
    ratios = [x / max(y, 1e-9) for x, y in zip(values_a, values_b)]
    return Verdict("at least", name_a, name_b, ratios, all(r >= factor for r in ratios), factor)


def undecided(table: pd.DataFrame, a, b, margin: float = MARGIN) -> Verdict:
    """Neither is ahead of the other and they are not level: all the runs can say is that they
    do not tell `a` and `b` apart (which is not the claim that they are equal)."""
    name_a, name_b, d = _differences(table, a, b)
    holds = not (ahead(table, a, b) or ahead(table, b, a) or level(table, a, b, margin))
    return Verdict("undecided", name_a, name_b, d, holds, margin)


def same(table: pd.DataFrame, figure: str, value) -> Verdict:
    """Is `figure` equal to `value` on every run (a name, such as a photo's top-1 class)?"""
    if figure not in table:
        raise KeyError(f"No figure {figure!r} in the evidence; it has {sorted(table.columns)}.")
    matches = [1.0 if v == value else 0.0 for v in table[figure]]
    return Verdict("same", figure, repr(value), matches, all(matches))


# --------------------------------------------------------------------------- reading evidence

def _stem(notebook) -> str:
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
    stem = _stem(notebook)
    path = EVIDENCE / f"{stem}.csv"
    if not path.exists():
        raise FileNotFoundError(f"No evidence for {stem}: run {COMMAND.format(number=stem[:2])}.")
    return _wide(pd.read_csv(path, dtype={"seed": str, "value": str}))


def meta(notebook) -> dict:
    """What `notebook`'s evidence was made with: parameters, runs, run environment."""
    stem = _stem(notebook)
    return json.loads((EVIDENCE / f"{stem}.json").read_text())


def _label(seeds) -> str:
    return " ".join(str(s) for s in seeds) if isinstance(seeds, (list, tuple)) else str(seeds)


def runs(notebook, namespace: dict) -> pd.DataFrame:
    """This kernel's run beside the evidence's other runs: one row per run, one column per figure.

    Called from a notebook after its experiments, as `evidence.runs("00_concepts", globals())`:
    the figures the notebook recorded (`record`) stand for the run with its `seed` (or `seeds`),
    and the evidence file supplies the runs with other seeds (and the durations of this seed's run,
    which differ at every run). A learner who changed a parameter
    other than the seed gets this run alone: the evidence was made with the committed values."""
    seeds = namespace.get("seeds", namespace.get("seed"))
    mine = pd.DataFrame([{**RECORDED, "seed": _label(seeds)}])
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
    same = others[others["seed"] == _label(seeds)]
    for name in [c for c in mine.columns if _varies(c)]:
        mine[name] = same[name].iloc[0] if len(same) and name in same else float("nan")
    others = others[others["seed"] != _label(seeds)]
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


# --------------------------------------------------------------------------- making evidence

def parameters(notebook) -> dict:
    """The values of a notebook's parameters cell (its cell tagged "parameters"); `notebook` is a
    path or an nbformat object."""
    import nbformat
    nb = nbformat.read(notebook, as_version=4) if not hasattr(notebook, "cells") else notebook
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{notebook} has {len(cells)} cells tagged 'parameters'; it needs one.")
    namespace: dict = {}
    exec(cells[0].source, {}, namespace)   # the parameters cell holds literals only
    return namespace


def seed_sets(values: dict, n: int = RUNS) -> list[dict]:
    """The parameters to inject for each of `n` runs; the first ({}) is the default run."""
    if "seeds" in values:
        k = len(values["seeds"])
        start = max(values["seeds"]) + 1
        return [{}] + [{"seeds": list(range(start + i * k, start + (i + 1) * k))} for i in range(n - 1)]
    if "seed" in values:
        return [{}] + [{"seed": values["seed"] + i} for i in range(1, n)]
    raise ValueError("A notebook with evidence needs a `seed` or `seeds` parameter.")


def _fingerprint(notebook: Path) -> str:
    # What a run's figures depend on in this repository: the notebook's code and the library.
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode())
    for path in sorted((ROOT / "tlcourse").glob("*.py")):
        if path.name != "evidence.py":
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _repr(values: dict) -> dict:
    return {name: repr(value) for name, value in values.items()}


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _save(stem: str, rows: list, info: dict) -> None:
    EVIDENCE.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=["run", "seed", "figure", "value"])
    _write(EVIDENCE / f"{stem}.csv", table.to_csv(index=False))
    _write(EVIDENCE / f"{stem}.json", json.dumps(info, indent=1) + "\n")


def make(notebook: Path, n: int = RUNS, out: Path = ROOT / "runs" / "evidence") -> pd.DataFrame:
    """Run `notebook` `n` times (see the module's docstring) and write its evidence files.

    The other seeds run first and are written down before the default run, which is the
    committed notebook, executed in place: its summary cells read the other runs' figures."""
    import nbformat
    from .run import execute

    notebook = Path(notebook)
    stem = notebook.stem
    values = parameters(notebook)
    sets = seed_sets(values, n)
    fingerprint = _fingerprint(notebook)
    default_seeds = values.get("seeds", values.get("seed"))
    info = {"notebook": stem, "command": COMMAND.format(number=stem[:2]), "runs": [],
            "parameters": _repr(values), "environment": environment(),
            "fingerprint": fingerprint}
    rows: list = []
    order = list(range(1, len(sets))) + [0]
    for position, index in enumerate(order, 1):
        injected = sets[index]
        seeds = injected.get("seeds", injected.get("seed", default_seeds))
        output = notebook if index == 0 else out / stem / f"run{index}.ipynb"
        previous = nbformat.read(output, as_version=4).metadata.get("tlcourse_evidence") if output.exists() else None
        stamp = {"fingerprint": fingerprint, "injected": injected}
        if previous is not None and {k: previous.get(k) for k in stamp} == stamp and index != 0:
            seconds = previous["seconds"]
            print(f"{stem} run {position}/{len(sets)} (seeds {_label(seeds)}): kept from {output}", flush=True)
        else:
            print(f"{stem} run {position}/{len(sets)} (seeds {_label(seeds)}) -> {output}", flush=True)
            seconds = execute(notebook, output, parameters=injected)
            executed = nbformat.read(output, as_version=4)
            executed.metadata["tlcourse_evidence"] = {**stamp, "seconds": seconds}
            nbformat.write(executed, output)
            print(f"  done in {format_seconds(seconds)}", flush=True)
        figures = recorded(output)
        rows += [{"run": index, "seed": _label(seeds), "figure": k, "value": v} for k, v in figures.items()]
        info["runs"].append({"run": index, "seed": _label(seeds), "injected": injected,
                             "seconds": round(seconds, 1)})
        info["runs"].sort(key=lambda r: r["run"])
        # written after every run, so the default run (last) reads the others' figures
        _save(stem, sorted(rows, key=lambda r: (r["run"], r["figure"])), info)
    info["seconds"] = round(sum(r["seconds"] for r in info["runs"]), 1)
    _save(stem, sorted(rows, key=lambda r: (r["run"], r["figure"])), info)
    return load(stem)


def stale(notebook: Path) -> list[str]:
    """Why `notebook`'s committed outputs and its evidence disagree (empty: they agree): the
    evidence's default run against the committed figures, and the parameters it was made with
    against the notebook's parameters cell."""
    stem = Path(notebook).stem
    fix = f"run {COMMAND.format(number=stem[:2])}"
    if not (EVIDENCE / f"{stem}.csv").exists():
        return [f"{stem}: no evidence: {fix}"]
    problems = []
    made = meta(stem)
    now = _repr(parameters(Path(notebook)))
    for name in sorted(set(made["parameters"]) | set(now)):
        if made["parameters"].get(name) != now.get(name):
            problems.append(f"{stem}: parameter {name} is {now.get(name)} in the notebook, the evidence was "
                            f"made with {made['parameters'].get(name)}: {fix}")
    table = load(stem)
    if 0 not in table.index:
        return problems + [f"{stem}: the evidence has no default run: {fix}"]
    committed = recorded(notebook)
    # The default run's figures, each as the type the notebook recorded (the CSV reads 27 back as 27.0).
    default = {name: value if isinstance(committed.get(name), str) or name not in committed
               else type(committed[name])(value)
               for name, value in table.loc[0].drop("seed").items() if not pd.isna(value)}
    for name, mine, theirs in changed(committed, default):
        if theirs is None:
            problems.append(f"{stem}: {name} is recorded in the notebook, not in its evidence: {fix}")
        elif mine is not None:
            problems.append(f"{stem}: {name} is {mine} in the committed notebook, {theirs} in its evidence: {fix}")
    return problems


# --------------------------------------------------------------------------- the README's tables

START, END = "<!-- evidence:start -->", "<!-- evidence:end -->"

# Each notebook's results table in the README: (title, column header, columns, rows); a row is
# (label, figure names per column, "-" where none).
TABLES = [
    ("00_concepts", "labelled digits per class", ["10", "30", "100", "300"], [
        ("transfer from a silhouette model", [f"transfer_acc_{n}" for n in (10, 30, 100, 300)]),
        ("same network from scratch", [f"scratch_acc_{n}" for n in (10, 30, 100, 300)])]),
    ("01_feature_extraction", "method", ["accuracy"], [
        ("linear probe on the last layer", ["linear_probe_acc"]),
        ("5 nearest neighbours", ["knn_probe_acc"]),
        ("fastai head on frozen features", ["frozen_head_acc"]),
        ("same network from scratch", ["scratch_acc"])]),
    ("02_fine_tuning", "method", ["accuracy"], [
        ("linear probe (notebook 01's features)", ["probe_acc"]),
        ("head only, fastai's BatchNorm", ["head_fastai_bn_acc"]),
        ("head only, Keras's BatchNorm", ["head_keras_bn_acc"]),
        ("fine-tuned, every layer", ["fine_tune_acc"]),
        ("from scratch", ["scratch_acc"])]),
    ("03_layerwise_fine_tuning", "method", ["accuracy"], [
        ("(a) one rate for every layer", ["one_rate_acc"]),
        ("(b) discriminative rates", ["discriminative_acc"]),
        ("(c) gradual unfreezing, discriminative rates", ["gradual_acc"]),
        ("(d) one rate + L2-SP", ["l2sp_acc"]),
        ("(e) head only", ["head_only_acc"])]),
    ("04_domain_shift", "method", ["digits, MNIST → UCI", "solar cells, mono → poly"], [
        ("source only, on the source", ["digits_source_acc", "cells_source_acc"]),
        ("source only", ["digits_source_only_acc", "cells_source_only_acc"]),
        ("AdaBN", ["digits_adabn_acc", "cells_adabn_acc"]),
        ("Deep CORAL", ["digits_coral_acc", "cells_coral_acc"]),
        ("DANN", ["digits_dann_acc", "cells_dann_acc"]),
        ("few-shot, k = 1", ["digits_k1_acc", "cells_k1_acc"]),
        ("few-shot, k = 5", ["digits_k5_acc", "cells_k5_acc"]),
        ("few-shot, k = 10", ["digits_k10_acc", "cells_k10_acc"]),
        ("trained on the target (ceiling)", ["digits_ceiling_acc", "cells_ceiling_acc"])]),
    ("05_text_transfer", "labelled tweets per class", ["8", "32", "128", "512"], [
        ("TF-IDF + logistic regression (from scratch)", [f"tfidf_{n}_acc" for n in (8, 32, 128, 512)]),
        ("frozen sentence embeddings + linear probe", [f"probe_{n}_acc" for n in (8, 32, 128, 512)]),
        ("fine-tuned encoder, discriminative rates", [f"fine_tuned_{n}_acc" for n in (8, 32, 128)] + ["-"])]),
]


def _cell(table: pd.DataFrame, figure: str) -> str:
    if figure == "-" or figure not in table:
        return "–"
    return f"{table[figure].mean():.3f} ± {table[figure].std():.3f}"


def readme_tables() -> str:
    """The README's results tables, from the evidence: mean ± standard deviation over the runs."""
    minutes = {stem: meta(stem)["seconds"] / 60 for stem, *_ in TABLES}
    blocks = [f"The runs behind these tables took {sum(minutes.values()):.0f} minutes in all, one after another on "
              f"this machine (per notebook: " + ", ".join(f"{stem[:2]} {m:.0f}" for stem, m in minutes.items())
              + " minutes)."]
    for stem, header, columns, rows in TABLES:
        table = load(stem)
        unit = "seed sets of three" if " " in str(table["seed"].iloc[0]) else "seeds"
        lines = [f"**[{stem}](notebooks/{stem}.ipynb)**, mean ± standard deviation over {len(table)} runs "
                 f"({unit}: {', '.join(map(str, table['seed']))}):", "",
                 f"| {header} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(_cell(table, f) for f in figures) + " |" for label, figures in rows]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def write_readme(path: Path = ROOT / "README.md") -> None:
    from .guide import rewrite
    rewrite(path, readme_tables(), START, END)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: every notebook)")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--readme", action="store_true", help="only rewrite the README's results tables")
    args = parser.parse_args(argv)
    if args.readme:
        write_readme()
        return 0
    names = [_stem(n) for n in args.notebooks] or sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    start = time.perf_counter()
    for stem in names:   # one at a time: two torch processes on two cores stall each other
        make(NOTEBOOKS / f"{stem}.ipynb", args.runs)
    if all((EVIDENCE / f"{stem}.csv").exists() for stem, *_ in TABLES):
        write_readme()
    print(f"evidence for {', '.join(names)} in {format_seconds(time.perf_counter() - start)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
