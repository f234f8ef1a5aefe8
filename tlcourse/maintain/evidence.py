"""Making the evidence: every notebook run five times, one seed (or seed set) per run, one
notebook at a time, and the README's results tables written from what they recorded.

    python -m tlcourse.maintain.evidence             # every notebook (make evidence)
    python -m tlcourse.maintain.evidence 02 05       # only these (make evidence NOTEBOOKS="02 05")
    python -m tlcourse.maintain.evidence --readme    # only rewrite the README's results tables

What the runs are, what is written and the rule that reads it: tlcourse/evidence.py.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import pandas as pd

from .. import cache, evidence
from ..evidence import COMMAND, NOTEBOOKS, ROOT, RUNS, load, meta, notebook_stem, seed_label
from ..results import changed, recorded
from ..runtime import environment, format_seconds


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
    for path in sorted((ROOT / "tlcourse").rglob("*.py")):   # the library, not the maintainer's tools
        if path.name != "evidence.py" and "maintain" not in path.parts:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _repr(values: dict) -> dict:
    return {name: repr(value) for name, value in values.items()}


def _write(path: Path, text: str) -> None:
    with cache.writing(path) as tmp:   # a stopped run leaves the last whole file
        tmp.write_text(text)


def _save(stem: str, rows: list, info: dict) -> None:
    evidence.EVIDENCE.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=["run", "seed", "figure", "value"])
    _write(evidence.EVIDENCE / f"{stem}.csv", table.to_csv(index=False))
    _write(evidence.EVIDENCE / f"{stem}.json", json.dumps(info, indent=1) + "\n")


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
            print(f"{stem} run {position}/{len(sets)} (seeds {seed_label(seeds)}): kept from {output}", flush=True)
        else:
            print(f"{stem} run {position}/{len(sets)} (seeds {seed_label(seeds)}) -> {output}", flush=True)
            seconds = execute(notebook, output, parameters=injected)
            executed = nbformat.read(output, as_version=4)
            executed.metadata["tlcourse_evidence"] = {**stamp, "seconds": seconds}
            nbformat.write(executed, output)
            print(f"  done in {format_seconds(seconds)}", flush=True)
        figures = recorded(output)
        rows += [{"run": index, "seed": seed_label(seeds), "figure": k, "value": v} for k, v in figures.items()]
        info["runs"].append({"run": index, "seed": seed_label(seeds), "injected": injected,
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
    if not (evidence.EVIDENCE / f"{stem}.csv").exists():
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
        ("linear probe on the last layer (C by cross-validation)", ["linear_probe_acc"]),
        ("5 nearest neighbours", ["knn_probe_acc"]),
        ("fastai head on frozen features", ["frozen_head_acc"]),
        ("same network from scratch", ["scratch_acc"])]),
    ("02_fine_tuning", "labelled cells per class (72 optimizer steps for each method that trains)", ["30", "150"], [
        ("linear probe (C by cross-validation)", ["linear_probe_30_acc", "linear_probe_150_acc"]),
        ("head alone, body frozen", ["head_alone_30_acc", "head_alone_150_acc"]),
        ("fine-tuning every layer, new head", ["fine_tuning_30_acc", "fine_tuning_150_acc"]),
        ("LP-FT: the head, then every layer (Keras's BatchNorm rule)", ["lp_ft_30_acc", "lp_ft_150_acc"]),
        ("LP-FT with fastai's BatchNorm rule", ["-", "fastai_bn_acc"])]),
    ("03_layerwise_fine_tuning", "the body's rate (the head's rate, 0.01, in every run)",
     ["photo tiles (near ImageNet)", "silhouettes (far from it)"], [
        ("body ÷1: one rate for every layer", ["near_body1_acc", "far_body1_acc"]),
        ("body ÷10", ["near_body10_acc", "far_body10_acc"]),
        ("body ÷100", ["near_body100_acc", "far_body100_acc"]),
        ("fastai's slice: late group ÷10, early ÷100", ["near_slice_acc", "far_slice_acc"]),
        ("gradual unfreezing, with fastai's slice", ["near_gradual_acc", "-"]),
        ("L2-SP, one rate", ["near_l2sp_acc", "-"])]),
    ("04_domain_shift", "method", ["digits, MNIST → MNIST-M", "solar cells, mono → poly"], [
        ("source only, on the source", ["digits_source_acc", "cells_source_acc"]),
        ("source only", ["digits_source_only_acc", "cells_source_only_acc"]),
        ("AdaBN", ["digits_adabn_acc", "cells_adabn_acc"]),
        ("Deep CORAL", ["digits_coral_acc", "cells_coral_acc"]),
        ("DANN", ["digits_dann_acc", "cells_dann_acc"]),
        ("few-shot, k = 1", ["digits_k1_acc", "cells_k1_acc"]),
        ("few-shot, k = 5", ["digits_k5_acc", "cells_k5_acc"]),
        ("few-shot, k = 10", ["digits_k10_acc", "cells_k10_acc"]),
        ("target only, k = 10 (never saw the source)", ["digits_target_only_acc", "cells_target_only_acc"]),
        ("few-shot, k = 10, on the source (forgetting)", ["digits_k10_source_acc", "cells_k10_source_acc"]),
        ("trained on the target (ceiling)", ["digits_ceiling_acc", "cells_ceiling_acc"])]),
    ("05_text_transfer", "labelled tweets per class", ["0", "8", "32", "128", "512"], [
        ("zero-shot: the labels described in words", ["zero_shot_acc", "-", "-", "-", "-"]),
        ("TF-IDF + logistic regression (from scratch)", ["-"] + [f"tfidf_{n}_acc" for n in (8, 32, 128, 512)]),
        ("frozen sentence embeddings + linear probe", ["-"] + [f"probe_{n}_acc" for n in (8, 32, 128, 512)]),
        ("fine-tuned encoder, discriminative rates", ["-"] + [f"fine_tuned_{n}_acc" for n in (8, 32, 128)] + ["-"])]),
    ("06_parameter_efficient", "what trains besides the new head",
     ["silhouettes, 20 per class", "tweets, 128 per class", "ImageNet top-1 kept (images)"], [
        ("nothing: zero-shot, the labels described in words", ["-", "zero_shot_acc", "-"]),
        ("nothing in the body: the head only", ["image_head_acc", "text_head_acc", "forget_head_agreement"]),
        ("normalisation layers' scale and shift", ["image_norm_acc", "text_norm_acc", "forget_norm_agreement"]),
        ("bias terms (BitFit)", ["image_bias_acc", "text_bias_acc", "forget_bias_agreement"]),
        ("LoRA, rank 8 (peft)", ["image_lora_acc", "text_lora_acc", "forget_lora_agreement"]),
        ("every weight: full fine-tuning", ["image_full_acc", "text_full_acc", "forget_full_agreement"]),
        ("every weight, with L2-SP", ["image_l2sp_acc", "-", "forget_l2sp_agreement"])]),
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
    names = [notebook_stem(n) for n in args.notebooks] or sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    start = time.perf_counter()
    for stem in names:   # one at a time: two torch processes on two cores stall each other
        make(NOTEBOOKS / f"{stem}.ipynb", args.runs)
    if all((evidence.EVIDENCE / f"{stem}.csv").exists() for stem, *_ in TABLES):
        write_readme()
    print(f"evidence for {', '.join(names)} in {format_seconds(time.perf_counter() - start)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
