"""The README's ELPV tables, written from the saved runs of benchmarks/elpv_deitsch.py and
benchmarks/backbones.py (never typed by hand; tests/test_benchmarks.py checks the README):

    .venv/bin/python benchmarks/elpv_deitsch.py summary

1. the five splits: each configuration run on all of them, mean ± standard deviation over the
   splits of accuracy, balanced accuracy and MCC on the 656 test cells, beside the published
   figures;
2. the screen: each ingredient alone, on the 492 cells held out of split 0's training cells;
3. the backbones: size, speed (benchmarks/backbones.py) and their screen accuracy.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import elpv_deitsch as bench
from tlcourse.maintain import guide

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
SPLITS = 5

# Ensembles: the mean of the members' probabilities of a defect (with TTA), scored from their
# saved predictions; the wall time is the members' together.
ENSEMBLES = {
    "ensemble: Lite0 + MobileNetV2": ("baseline", "mobilenet_v2"),
    "ensemble: Lite0 + Lite1 + Lite2": ("baseline", "lite1", "lite2"),
    "ensemble: Lite0 fine-tuned + SVM on features": ("baseline", "SVM on features"),
}

# As printed by the authors (Deitsch et al.'s abstract) or as quoted by later papers (we could not
# read those offline), with how each protocol differs from ours.
PUBLISHED = [
    ("VGG-19 fine-tuned, GPU (Deitsch et al. 2019)", "88.42 %",
     "the dataset's authors: 1,968 cells to train, 656 to test, stratified; their test cells are not published"),
    ("SVM on hand-crafted features (Deitsch et al. 2019)", "82.44 %", "the same split"),
    ("a light CNN (Akram et al. 2019)", "93.02 %", "as quoted by later papers; split not confirmed here"),
    ("CNN features, mRMR, SVM (Demirci et al. 2021)", "94.52 %", "as quoted by Wang et al. 2023; split not confirmed here"),
    ("Inception-V3 + ResNet-50 features (Al-Waisy et al. 2022)", "98.15 %",
     "as quoted: a random 80/20 split, not stratified, with rotation, flip, blur and contrast augmentation"),
]


def load(where: str) -> dict[str, dict]:
    folder = bench.RESULTS / where
    return {run["name"]: run for run in (json.loads(p.read_text()) for p in sorted(folder.glob("*.json")))}


def held_cells(where: str) -> pd.DataFrame:
    items = bench.screen_split() if where == "screen" else bench.protocol_split(int(where.removeprefix("split")))
    return items[items["is_valid"]]


def wall_seconds(run: dict, tta: bool = True) -> float | None:
    """What a row's figure cost: training, then predicting the held-out cells (with TTA or not).
    The SVM's TTA is a second fit, on features averaged over the eight views (`tta_fit_seconds`);
    an ensemble's cost is its members' together, and it has no plain figure."""
    if "wall_seconds" in run:
        return run["wall_seconds"] if tta else None
    if tta:
        return run.get("tta_fit_seconds", run["fit_seconds"]) + run["tta_seconds"]
    return run["fit_seconds"] + run["plain_seconds"]


def minutes(runs: list[dict]) -> str:
    """Mean minutes over the runs, plain / with TTA."""
    plain, tta = ([wall_seconds(r, t) for r in runs] for t in (False, True))
    plain = "–" if None in plain else f"{np.mean(plain) / 60:.0f}"
    return f"{plain} / {np.mean(tta) / 60:.0f}"


def ensemble(runs: dict, members, held) -> dict | None:
    if not all(m in runs for m in members):
        return None
    p = np.mean([bench.defect_probability(runs[m]["tta_probabilities"], runs[m]["vocab"]) for m in members], axis=0)
    return {"scores": {"tta": bench.scores(p, held)}, "wall_seconds": sum(wall_seconds(runs[m]) for m in members)}


def in_config_order(runs: dict) -> dict:
    """The runs in the configurations' order (the baseline first), a configuration's seeds together."""
    order = {name: i for i, name in enumerate(bench.CONFIGS)}
    return dict(sorted(runs.items(), key=lambda kv: (order.get(kv[1]["name"].split(",")[0], len(order)), kv[0])))


def with_ensembles(where: str) -> dict:
    """The saved runs in the configurations' order, then the ensembles."""
    runs, held = in_config_order(load(where)), held_cells(where)
    for name, members in ENSEMBLES.items():
        found = ensemble(runs, members, held)
        if found is not None:
            runs[name] = found
    return runs


def percent(x: float) -> str:
    return f"{100 * x:.1f} %"


def screen_table() -> str:
    runs = with_ensembles("screen")
    if "baseline" not in runs:
        return "(no screen run saved yet)"
    base = runs["baseline"]["scores"]["tta"]["accuracy"]
    rows = ["| configuration | accuracy | with TTA | change with TTA vs baseline | balanced accuracy (TTA) "
            "| MCC (TTA) | four grades (TTA) | minutes, plain / with TTA |", "|---|---|---|---|---|---|---|---|"]
    for name, run in runs.items():
        s, tta = run["scores"], run["scores"]["tta"]
        plain = percent(s["plain"]["accuracy"]) if "plain" in s else "–"
        grades = percent(tta["grade_accuracy"]) if "grade_accuracy" in tta else "–"
        rows.append(f"| {name} | {plain} | {percent(tta['accuracy'])} | {100 * (tta['accuracy'] - base):+.1f} "
                    f"| {percent(tta['balanced_accuracy'])} | {tta['mcc']:.3f} | {grades} | {minutes([run])} |")
    return "\n".join(rows)


def warped_table() -> str:
    """The screen runs made before the held-out cells were drawn outside autocast: their own pass
    read warped cells. fastai's validation of the same weights at the last epoch did not, so its
    accuracy is the plain accuracy they would have scored; their TTA is lost with their weights."""
    rows = ["| configuration | fastai's validation, last epoch | our pass, distorted cells | with TTA, distorted cells "
            "| training minutes |",
            "|---|---|---|---|---|"]
    for name, run in in_config_order(load("screen-warped")).items():
        cells = len(run["cells"])   # saved rounded to 4 digits: back to a whole number of cells
        last = percent(round(run["epochs"]["accuracy"][-1] * cells) / cells)
        if run["config"]["target"] == "grades":
            last += " (four grades)"
        rows.append(f"| {name} | {last} | {percent(run['scores']['plain']['accuracy'])} "
                    f"| {percent(run['scores']['tta']['accuracy'])} | {run['fit_seconds'] / 60:.0f} |")
    return "\n".join(rows)


def splits_table() -> str:
    per_split = [with_ensembles(f"split{k}") for k in range(SPLITS)]
    rows = ["| method | accuracy | with TTA | balanced accuracy (TTA) | MCC (TTA) | four grades (TTA) "
            "| wall time per split, plain / with TTA | hardware | protocol |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, value, protocol in PUBLISHED:
        rows.append(f"| {name} | {value} | – | – | – | – | – | {'GPU' if 'GPU' in name else '–'} | {protocol} |")

    def spread(values, scale=100, unit=" %", digits=1):
        return f"{scale * np.mean(values):.{digits}f} ± {scale * np.std(values, ddof=1):.{digits}f}{unit}"

    names = [n for n in per_split[0] if all(n in runs for runs in per_split)]
    for name in names:
        runs = [runs[name] for runs in per_split]
        tta = [r["scores"]["tta"] for r in runs]
        plain = spread([r["scores"]["plain"]["accuracy"] for r in runs]) if "plain" in runs[0]["scores"] else "–"
        grades = spread([t["grade_accuracy"] for t in tta]) if "grade_accuracy" in tta[0] else "–"
        rows.append(f"| {name} | {plain} | {spread([t['accuracy'] for t in tta])} "
                    f"| {spread([t['balanced_accuracy'] for t in tta])} | {spread([t['mcc'] for t in tta], 1, '', 3)} "
                    f"| {grades} "
                    f"| {minutes(runs)} min | 2 CPU cores | ours, {SPLITS} splits |")
    return "\n".join(rows)


# the screen's run of each backbone with everything else as the baseline
BACKBONE_RUNS = {"efficientnet_lite0": "baseline", "efficientnet_lite1": "lite1", "efficientnet_lite2": "lite2",
                 "mobilenet_v2": "mobilenet_v2"}


def speed_report() -> dict:
    return json.loads((bench.RESULTS.parent / "backbones.json").read_text())


def backbone_table() -> str:
    speed, screen = speed_report(), load("screen")
    rows = ["| backbone | parameters | inference, images/s | training, images/s | ELPV screen accuracy (TTA) | screen minutes (with TTA) |",
            "|---|---|---|---|---|---|"]
    for name, b in speed["backbones"].items():
        run = screen.get(BACKBONE_RUNS[name])
        acc, spent = (percent(run["scores"]["tta"]["accuracy"]), f"{wall_seconds(run) / 60:.0f}") if run else ("–", "–")
        layout = b["variants"]["channels_last"]    # the course's layout for every one of them
        rows.append(f"| {name} | {b['parameters'] / 1e6:.1f} M | {layout['inference_images_per_second']:.0f} "
                    f"| {layout['training_images_per_second']:.1f} | {acc} | {spent} |")
    return "\n".join(rows)


def layout_check(b: dict, kind: str) -> str:
    """The layout accuracy check (training row only): fine-tuned on 400 ELPV cells at 128 px."""
    scores = b.get("layout_accuracy")
    if kind != "training" or not scores:
        return ""
    return " vs ".join(f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" for v in (scores["contiguous"], scores["channels_last"]))


def speed_table() -> str:
    """Images per second of each variant; the ratios that decide: channels-last against the
    contiguous layout, and compiling against the eager channels-last model (the course's layout)."""
    speed = speed_report()
    rows = ["| backbone | work | contiguous | channels-last | contiguous, compiled | channels-last, compiled "
            "| channels-last ÷ contiguous | compiled ÷ eager (channels-last) "
            "| accuracy, contiguous vs channels-last (mean ± sd, 3 seeds) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, b in speed["backbones"].items():
        v = b["variants"]
        for kind in ("inference", "training"):
            rate = {k: x[f"{kind}_images_per_second"] for k, x in v.items()}
            rows.append(f"| {name} | {kind} | {rate['contiguous']:.1f} | {rate['channels_last']:.1f} "
                        f"| {rate['contiguous, compiled']:.1f} | {rate['channels_last, compiled']:.1f} "
                        f"| {rate['channels_last'] / rate['contiguous']:.2f}× "
                        f"| {rate['channels_last, compiled'] / rate['channels_last']:.2f}× | {layout_check(b, kind)} |")
    return "\n".join(rows)


def plot() -> None:
    """ELPV screen accuracy against training speed, and inference speed against size (README)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    speed, screen = speed_report(), load("screen")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for i, (name, b) in enumerate(speed["backbones"].items()):
        v, label, colour = b["variants"]["channels_last"], name.replace("efficientnet_", ""), f"C{i}"
        run = screen.get(BACKBONE_RUNS[name])
        if run:
            left.scatter(v["training_images_per_second"], 100 * run["scores"]["tta"]["accuracy"], color=colour)
            left.annotate(label, (v["training_images_per_second"], 100 * run["scores"]["tta"]["accuracy"]),
                          textcoords="offset points", xytext=(4, 4))
        right.scatter(b["parameters"] / 1e6, v["inference_images_per_second"], color=colour)
        right.annotate(label, (b["parameters"] / 1e6, v["inference_images_per_second"]),
                       textcoords="offset points", xytext=(4, 4))
    left.set(xlabel="training, images per second", ylabel="accuracy with TTA (%)",
             title="ELPV screen (492 held-out training cells)")
    right.set(xlabel="parameters (millions)", ylabel="inference, images per second",
              title=f"{speed['size']} px, batch {speed['bs']}, {speed['threads']} threads")
    top = max(b["variants"]["channels_last"]["inference_images_per_second"] for b in speed["backbones"].values())
    right.set_ylim(0, 1.15 * top)      # room for the labels
    fig.tight_layout()
    fig.savefig(bench.RESULTS.parent / "backbones.png", dpi=100)


BLOCKS = {"elpv-splits": splits_table, "elpv-screen": screen_table, "elpv-warped": warped_table,
          "backbones": backbone_table, "speed": speed_table}


def markers(block: str) -> tuple[str, str]:
    return f"<!-- {block}:start -->", f"<!-- {block}:end -->"


def main() -> None:
    for block, make in BLOCKS.items():
        table = make()
        print(table, end="\n\n")
        guide.rewrite(README, table, *markers(block))   # the README's other generated tables use it too
    plot()
