"""Choosing a backbone: size and speed of every backbone whose ImageNet weights ship in a
package, and what channels-last and torch.compile give on this CPU, side by side in one run.

For each backbone and each of four variants (memory layout contiguous or channels-last,
eager or `torch.compile`):

- inference: images per second through the body and a two-class head, batch 32, eval
  mode, `torch.inference_mode`, at the course's precision (`auto`: bfloat16 autocast here);
- training: images per second of a full fine-tuning step (every layer trains, BatchNorm in
  training mode, AdamW, cross-entropy), batch 32, at the course's precision (`auto`: float32,
  where training convolutions in bfloat16 measured slower);
- the seconds each variant's first call took (recorded, not shown: with inductor's on-disk
  cache of compiled kernels warm from an earlier run, it is not torch.compile's one-off cost).

Each variant is timed in `--rounds` rounds, the variants alternating so that a busy moment of
the machine hits them all alike; a round is the mean of `--steps` calls and the fastest round
counts. Ratios are against eager contiguous; the course keeps a variant that is at least 1.3x
the layout it already uses (eager channels-last) and leaves accuracy untouched, so each backbone
is also fine-tuned in both layouts over `--seeds` seeds on a small ELPV split (400 cells at 128 px).

    .venv/bin/python benchmarks/backbones.py              # about 20 minutes on 2 CPU cores
    .venv/bin/python benchmarks/backbones.py --seeds 0    # speed only (keeps the last accuracy check)

Results: benchmarks/results/backbones.json. The README's backbone table and plot
(`benchmarks/elpv_deitsch.py summary`) join them with the ELPV accuracy each backbone scored.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import tlcourse as tl
from tlcourse import backbones
from tlcourse.runtime import autocast

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "backbones.json"
BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2")
VARIANTS = [(layout, compiled) for compiled in (False, True) for layout in ("contiguous", "channels_last")]
KEEP = 1.3   # a variant must be at least this much faster than the layout the course uses to be kept


def variant_name(layout: str, compiled: bool) -> str:
    return f"{layout}{', compiled' if compiled else ''}"


def build(name: str, layout: str, compiled: bool) -> nn.Module:
    whole = backbones.whole_network(name, pretrained=True)
    width = backbones.get_backbone(name).n_features
    model = nn.Sequential(whole.body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 2))
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    return torch.compile(model) if compiled else model


class Timed:
    """One variant's model, its batch and optimiser, and its two kinds of call."""

    def __init__(self, name, layout, compiled, size, bs):
        torch.manual_seed(0)
        self.model = build(name, layout, compiled)
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        self.x = torch.randn(bs, 3, size, size).contiguous(memory_format=fmt)
        self.y = torch.randint(0, 2, (bs,))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.first = {}

    def train_step(self):
        self.model.train()
        with autocast("conv training"):
            out = self.model(self.x)
        loss = F.cross_entropy(out.float(), self.y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def infer(self):
        self.model.eval()
        with torch.inference_mode(), autocast("inference"):
            self.model(self.x)

    def seconds(self, kind: str, steps: int) -> float:
        call = self.train_step if kind == "training" else self.infer
        if kind not in self.first:               # the first call compiles (or warms up) apart
            start = time.perf_counter()
            call()
            self.first[kind] = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            call()
        return (time.perf_counter() - start) / steps


def speed(name: str, size: int, bs: int, steps: int, rounds: int) -> dict:
    # torch.compile keeps compiled code per Python function, and nn.Sequential.forward is the
    # same function in every backbone: past its cache limit (8 recompilations) dynamo silently
    # runs eager. Measured so: the third and fourth backbones "compiled" ran at eager speed.
    torch._dynamo.reset()
    whole = backbones.whole_network(name, pretrained=False)
    report = {"parameters": sum(p.numel() for p in whole.parameters()),
              "body_parameters": sum(p.numel() for p in whole.body.parameters()), "variants": {}}
    timed = {variant_name(*v): Timed(name, *v, size, bs) for v in VARIANTS}
    for kind in ("inference", "training"):
        best = {v: float("inf") for v in timed}
        for _ in range(rounds):
            for v, t in timed.items():
                best[v] = min(best[v], t.seconds(kind, steps))
        for v, t in timed.items():
            report["variants"].setdefault(v, {})[f"{kind}_images_per_second"] = bs / best[v]
            report["variants"][v][f"{kind}_first_call_seconds"] = t.first[kind]
        print(f"  {name} {kind}: " + ", ".join(f"{v} {bs / s:.1f}/s" for v, s in best.items()), flush=True)
    base = report["variants"][variant_name("contiguous", False)]
    for v in report["variants"].values():
        for kind in ("inference", "training"):
            v[f"{kind}_speedup"] = v[f"{kind}_images_per_second"] / base[f"{kind}_images_per_second"]
    return report


def accuracy(name: str, layout: str, seed: int) -> float:
    """Fine-tune on 200 cells per class at 128 px (1 frozen + 3 epochs), in the given layout."""
    dls = tl.get_dls("elpv", size=128, n_per_class=200, valid_per_class=150, seed=seed)
    learn = tl.create_learner(dls, name, seed=seed)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    learn.model.to(memory_format=fmt)
    return tl.training.fine_tune(learn, 3, base_lr=4e-3, freeze_epochs=1, seed=seed)["accuracy"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--bs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the layout accuracy check (0: skip it)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    args = parser.parse_args(argv)
    tl.runtime.set_threads()
    report = {"size": args.size, "bs": args.bs, "threads": tl.runtime.THREADS, "precision": tl.runtime.precision(),
              "environment": tl.runtime.environment(), "keep_at_least": KEEP, "backbones": {}}
    kept = json.loads(OUT.read_text())["backbones"] if OUT.exists() else {}
    for name in args.backbones:
        report["backbones"][name] = speed(name, args.size, args.bs, args.steps, args.rounds)
        if not args.seeds and "layout_accuracy" in kept.get(name, {}):   # --seeds 0 keeps the last check
            report["backbones"][name]["layout_accuracy"] = kept[name]["layout_accuracy"]
        elif args.seeds:
            scores = {layout: [accuracy(name, layout, seed) for seed in range(args.seeds)]
                      for layout in ("contiguous", "channels_last")}
            report["backbones"][name]["layout_accuracy"] = scores
            print(f"  {name} accuracy by layout: {scores}", flush=True)
        OUT.write_text(json.dumps(report, indent=2))   # after each backbone: nothing lost if stopped
    print(f"wrote {OUT}; the README's tables and plot: benchmarks/elpv_deitsch.py summary")


if __name__ == "__main__":
    main()
