"""float32 against bfloat16 autocast on this machine: what each kind of work gains, and
whether each notebook's figures stay the same.

1. `steps`: images (or tweets) per second of each kind of work the precision policy tells
   apart (`tlcourse.runtime.WORK`), float32 and bfloat16 measured alternately in one process,
   the fastest of `--repeats` runs kept: EfficientNet-Lite0 at 128 px, batch 32 (64 for
   inference), and the MiniLM encoder on tweets. Writes results/precision_steps.csv.
2. `notebooks`: every notebook executed with papermill under TLCOURSE_PRECISION=fp32 and
   =auto, for each seed (notebooks 03 and 04 average three seeds inside and run once), one run
   at a time; each run's recorded figures and wall time are appended to
   results/precision_runs.csv as soon as it ends, and a run already there is not repeated
   (a stopped benchmark resumes). Then the paired difference auto - fp32, seed by seed, of
   every accuracy figure: its mean and standard error, written to results/precision.csv.

    .venv/bin/python benchmarks/precision.py steps              # about 4 minutes
    .venv/bin/python benchmarks/precision.py notebooks          # about an hour on 2 CPU cores
    .venv/bin/python benchmarks/precision.py summary            # only the table, from the runs

`notebooks` and `summary` also rewrite the README's tables between its `precision` markers
(tests/test_benchmarks.py fails when the README and the results differ).
"""
from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).parents[1]
RESULTS = Path(__file__).parent / "results"
SEEDS = (0, 1, 2)
# Notebooks that take one `seed`; the others average `seeds` = [0, 1, 2] inside and run once.
SEEDED = ("00_concepts", "01_feature_extraction", "02_fine_tuning", "05_text_transfer")


# --------------------------------------------------------------------------- 1. kinds of work

def _timed(step, n: int) -> float:
    step()  # warm up: the first call allocates and picks kernels
    start = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - start


def _image_steps(size: int = 128, bs: int = 32):
    import torch
    from torch import nn
    from tlcourse import backbones

    whole = backbones.efficientnet_lite0(pretrained=True)
    body = whole[0]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 2))
    spec = backbones.get_backbone("efficientnet_lite0")
    model = spec.prepare(nn.Sequential(copy.deepcopy(body), head))
    x = torch.randn(bs, 3, size, size).to(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (bs,))
    late = {name for name, _ in model[0].named_children()} - {"stem", "stage1", "stage2", "stage3"}

    def trainable(what):
        for name, module in model[0].named_children():
            for m in module.modules():
                is_bn = isinstance(m, nn.BatchNorm2d)
                for p in m.parameters(recurse=False):
                    p.requires_grad_(what == "all" or (what == "late" and name in late)
                                     or (what == "bn" and is_bn))
        for p in head.parameters():
            p.requires_grad_(True)

    def train_step(what, bn_train):
        def step():
            trainable(what)
            model.train()
            if not bn_train:
                model[0].eval()
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
            loss = nn.functional.cross_entropy(model(x).float(), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        return step

    def inference():
        model.eval()
        with torch.inference_mode():
            model(torch.cat([x, x]))

    return {
        ("inference", "forward pass, eval mode, batch 64"): (inference, 2 * bs),
        ("training", "head only, frozen BatchNorm in inference mode"): (train_step("none", False), bs),
        ("training", "head + BatchNorm layers (fastai's train_bn)"): (train_step("bn", True), bs),
        ("conv training", "head + stages 4-7 (gradual unfreezing's second stage)"): (train_step("late", True), bs),
        ("conv training", "every layer"): (train_step("all", True), bs),
    }


def _text_steps(bs: int = 16):
    import torch
    from tlcourse import text

    tweets = text.tweets()["text"].sample(64, random_state=0).tolist()
    encoder = text.load_encoder()
    model = text.SentenceClassifier(3, encoder)
    batch = encoder.tokenizer(tweets[:bs], truncation=True, max_length=64, padding=True, return_tensors="pt")
    y = torch.randint(0, 3, (bs,))

    def embed():
        encoder.encode(tweets, batch_size=64, show_progress_bar=False)

    def fine_tune_step():
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        loss = torch.nn.functional.cross_entropy(model(batch["input_ids"], batch["attention_mask"]).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad()

    return {("inference", "MiniLM embeddings, 64 tweets"): (embed, 64),
            ("training", "MiniLM fine-tuning, every layer, batch 16"): (fine_tune_step, bs)}


def steps(repeats: int, n: int) -> pd.DataFrame:
    import torch
    import tlcourse  # noqa: F401  (the thread policy)
    from tlcourse.runtime import THREADS

    rows = []
    for (work, what), (step, items) in {**_image_steps(), **_text_steps()}.items():
        best = {"fp32": float("inf"), "bf16": float("inf")}
        for _ in range(repeats):
            for name in best:   # alternate, so a slow moment of the machine hits both
                context = (torch.autocast("cpu", dtype=torch.bfloat16) if name == "bf16"
                           else torch.autocast("cpu", enabled=False))
                with context:
                    best[name] = min(best[name], _timed(step, n))
        row = {"work": work, "what": what, "fp32 per s": n * items / best["fp32"],
               "bf16 per s": n * items / best["bf16"], "threads": THREADS}
        row["bf16 / fp32"] = row["bf16 per s"] / row["fp32 per s"]
        rows.append(row)
        print(f"{work:16} {what:55} fp32 {row['fp32 per s']:6.1f}/s  bf16 {row['bf16 per s']:6.1f}/s  "
              f"x{row['bf16 / fp32']:.2f}", flush=True)
    table = pd.DataFrame(rows)
    table.round(3).to_csv(RESULTS / "precision_steps.csv", index=False)
    return table


# --------------------------------------------------------------------------- 2. notebooks

RUNS = RESULTS / "precision_runs.csv"


def _runs() -> pd.DataFrame:
    return pd.read_csv(RUNS) if RUNS.exists() else pd.DataFrame(
        columns=["notebook", "precision", "seed", "figure", "value"])


def notebooks(names, seeds, precisions) -> None:
    from tlcourse.results import recorded
    import nbformat

    done = _runs()
    for notebook in names:
        path = ROOT / "notebooks" / f"{notebook}.ipynb"
        for seed in (seeds if notebook in SEEDED else (None,)):
            for precision in precisions:
                key = (done["notebook"] == notebook) & (done["precision"] == precision)
                if seed is not None:
                    key &= done["seed"] == seed
                if key.any():
                    continue
                params = [] if seed is None else ["-p", "seed", str(seed)]
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / path.name
                    print(f"{notebook} precision={precision} seed={seed}", flush=True)
                    env = {**os.environ, "TLCOURSE_PRECISION": precision, "TLCOURSE_PROGRESS": "0"}
                    subprocess.run([sys.executable, "-m", "papermill", str(path), str(out), *params,
                                    "--cwd", str(path.parent), "-k", "python3", "--no-progress-bar"],
                                   check=True, env=env, capture_output=True)
                    nb = nbformat.read(out, as_version=4)
                figures = {"wall_seconds": nb.metadata["papermill"]["duration"], **recorded(nb)}
                rows = pd.DataFrame([{"notebook": notebook, "precision": precision,
                                      "seed": -1 if seed is None else seed, "figure": k, "value": v}
                                     for k, v in figures.items()])
                rows.to_csv(RUNS, mode="a", header=not RUNS.exists(), index=False)
                done = _runs()
                print(f"  {figures['wall_seconds']:.0f} s", flush=True)


def summary() -> pd.DataFrame:
    """Paired differences auto - fp32 of every accuracy figure, seed by seed (notebooks 03 and 04
    record means over their three inner seeds, paired as one run), and the median wall times. Equivalent: the mean difference ± one standard error lies within one point of accuracy."""
    runs = _runs()
    runs["value"] = pd.to_numeric(runs["value"], errors="coerce")
    wide = runs.pivot_table(index=["notebook", "seed", "figure"], columns="precision", values="value").dropna()
    wide["difference"] = wide["auto"] - wide["fp32"]
    rows = []
    for notebook, table in wide.groupby(level="notebook"):
        times = table.xs("wall_seconds", level="figure")
        accuracy = table[[("acc" in f) for f in table.index.get_level_values("figure")]]
        # Figures that no torch computation touches (TF-IDF, say) are equal under both precisions
        # on every seed; counting them would pull the mean toward zero, so they are left out.
        moved = accuracy["difference"].ne(0).groupby(level="figure").transform("any")
        d = accuracy.loc[moved, "difference"]
        sem = d.std(ddof=1) / len(d) ** 0.5 if len(d) > 1 else float("nan")
        # Medians: one run slowed by other work on the machine does not move them.
        rows.append({"notebook": notebook, "runs per precision": len(times),
                     "fp32 seconds": times["fp32"].median(), "auto seconds": times["auto"].median(),
                     "speed-up": times["fp32"].median() / times["auto"].median(),
                     "accuracy figures paired": len(d), "mean difference": d.mean(), "std error": sem,
                     "largest |difference|": d.abs().max(),
                     "equivalent": bool(abs(d.mean()) + sem <= 0.01)})
    table = pd.DataFrame(rows)
    table.round(4).to_csv(RESULTS / "precision.csv", index=False)
    return table


# --------------------------------------------------------------------------- 3. the README

START, END = "<!-- precision:start -->", "<!-- precision:end -->"


def readme_tables() -> str:
    """The README's two tables, from the committed results files."""
    from tlcourse.runtime import AUTO_BF16
    steps = pd.read_csv(RESULTS / "precision_steps.csv")
    lines = ["| kind of work | what was timed (2 threads) | float32 | bfloat16 | bfloat16 / float32 | `auto` uses |",
             "|---|---|---|---|---|---|"]
    for row in steps.itertuples(index=False):
        uses = "bfloat16" if AUTO_BF16[row.work] else "float32"
        lines.append(f"| {row.work} | {row.what} | {row[2]:.0f}/s | {row[3]:.0f}/s | {row[5]:.2f} | {uses} |")
    table = pd.read_csv(RESULTS / "precision.csv")
    lines += ["", "| notebook | runs per precision | median wall time, float32 | median wall time, `auto` | accuracy figures paired "
              "| `auto` − float32, mean ± standard error | largest difference | within one point |",
              "|---|---|---|---|---|---|---|---|"]
    for row in table.to_dict("records"):
        lines.append(f"| {row['notebook']} | {row['runs per precision']} | {row['fp32 seconds']:.0f} s "
                     f"| {row['auto seconds']:.0f} s | {row['accuracy figures paired']} "
                     f"| {row['mean difference']:+.4f} ± {row['std error']:.4f} | {row['largest |difference|']:.3f} "
                     f"| {'yes' if row['equivalent'] else 'no'} |")
    return "\n".join(lines)


def write_readme() -> None:
    sys.path.insert(0, str(ROOT))
    from tlcourse.maintain import guide
    guide.rewrite(ROOT / "README.md", readme_tables(), START, END)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("steps", "notebooks", "summary"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=5, help="steps per timed run")
    parser.add_argument("--notebooks", nargs="*", default=[p.stem for p in sorted(ROOT.glob("notebooks/0*.ipynb"))])
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--precisions", nargs="*", default=["fp32", "auto"])
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.part == "steps":
        steps(args.repeats, args.n)
        return 0
    if args.part == "notebooks":
        notebooks(args.notebooks, args.seeds, args.precisions)
    print(summary().round(4).to_string(index=False))
    write_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
