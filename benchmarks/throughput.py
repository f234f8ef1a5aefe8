"""What the course's helpers cost over plain PyTorch, measured side by side in one process.

1. Feature extraction: `tlcourse.features.forward_features` (read, resize, forward pass,
   average over positions) against the loop one writes by hand: a torch DataLoader over the
   same image files with the same preprocessing, the same body, batch size and threads,
   under `torch.inference_mode`. Ratio = tlcourse images/s / plain images/s (goal >= 0.9).
   The body alone on tensors already in memory is printed too, to show what reading costs.
2. One fine-tuning epoch (all layers unfrozen, training then validation): fastai's
   `Learner.fit` against a plain PyTorch loop over the same DataLoaders, same model
   weights, same optimiser settings. Ratio = fastai seconds / plain seconds (goal <= 1.2).

Each side runs `--repeats` times, alternating, and the fastest run of each counts (the
usual way to take noise out of timings on a shared machine). Both sides compute at the
precision policy's precision (TLCOURSE_PRECISION, `tlcourse.runtime.autocast`), so the
ratios compare loops, not precisions; benchmarks/precision.py compares precisions.

    .venv/bin/python benchmarks/throughput.py          # about 3 minutes on 2 CPU cores
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import tlcourse as tl
from tlcourse import features
from tlcourse.runtime import THREADS, autocast

OUT = Path(__file__).parent / "results" / "throughput.json"


class ImageFiles(torch.utils.data.Dataset):
    """The hand-written dataset: open, RGB, resize, scale, normalise."""

    def __init__(self, paths, size, stats):
        self.paths, self.size = paths, size
        self.mean, self.std = (torch.tensor(s).view(3, 1, 1) for s in stats)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image = Image.open(self.paths[i]).convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(image)).permute(2, 0, 1).float() / 255
        return (x - self.mean) / self.std


def plain_extraction(body, paths, size, stats, bs) -> np.ndarray:
    loader = torch.utils.data.DataLoader(ImageFiles(paths, size, stats), batch_size=bs, num_workers=0)
    out = []
    with torch.inference_mode(), autocast("inference"):
        for x in loader:
            out.append(body(x).float().mean(dim=(2, 3)).numpy())
    return np.concatenate(out)


def body_only(body, n, size, bs) -> None:
    x = torch.randn(bs, 3, size, size)
    with torch.inference_mode(), autocast("inference"):
        for _ in range(0, n, bs):
            body(x)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def extraction(items, size, bs, repeats) -> dict:
    body = features.load_body()
    stats = tl.BACKBONES["efficientnet_lite0"].stats
    paths = list(items["path"])
    mine = features.forward_features(body, paths, ["head_conv"], size, stats, bs)["head_conv"]
    plain = plain_extraction(body, paths, size, stats, bs)
    assert np.allclose(mine, plain, atol=1e-4), "the two loops must compute the same features"
    times = {"tlcourse": [], "plain": [], "body only": []}
    for _ in range(repeats):
        times["plain"].append(timed(lambda: plain_extraction(body, paths, size, stats, bs)))
        times["tlcourse"].append(timed(lambda: features.forward_features(body, paths, ["head_conv"], size, stats, bs)))
        times["body only"].append(timed(lambda: body_only(body, len(paths), size, bs)))
    rate = {k: len(paths) / min(v) for k, v in times.items()}
    return {"images": len(paths), "size": size, "bs": bs, "images_per_second": rate,
            "ratio": rate["tlcourse"] / rate["plain"]}


def plain_epoch(model, dls, lr) -> None:
    # fastai's Adam defaults: betas (0.9, 0.99), eps 1e-5, decoupled weight decay 0.01.
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    model.train()
    for x, y in dls.train:
        x, y = x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor)  # plain tensors, as a hand-written loop has
        with autocast("conv training"):   # every layer trains, as in the fastai run
            pred = model(x)
        loss = F.cross_entropy(pred.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    correct = 0
    with torch.no_grad(), autocast("inference"):
        for x, y in dls.valid:
            correct += (model(x.as_subclass(torch.Tensor)).argmax(1) == y.as_subclass(torch.Tensor)).sum().item()


def training(size, n_per_class, repeats, lr=1e-3) -> dict:
    dls = tl.get_dls("elpv", size=size, n_per_class=n_per_class, valid_per_class=100, bs=32)
    learn = tl.create_learner(dls, "efficientnet_lite0", pretrained=True)
    learn.unfreeze()
    start = copy.deepcopy(learn.model.state_dict())
    plain_model = copy.deepcopy(learn.model)
    times = {"fastai": [], "plain": []}
    for _ in range(repeats):
        plain_model.load_state_dict(start)
        times["plain"].append(timed(lambda: plain_epoch(plain_model, dls, lr)))
        learn.model.load_state_dict(start)
        learn.create_opt()
        with learn.no_bar(), learn.no_logging():
            times["fastai"].append(timed(lambda: learn.fit(1, lr)))
    best = {k: min(v) for k, v in times.items()}
    return {"train_images": len(dls.train_ds), "valid_images": len(dls.valid_ds), "size": size,
            "seconds": best, "ratio": best["fastai"] / best["plain"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    items = tl.split_items(tl.load_items("elpv"), n_per_class=150, valid_per_class=200, seed=0)
    report = {"threads": THREADS, "device": str(tl.runtime.device()), "environment": tl.runtime.environment()}
    report["extraction"] = extraction(items, args.size, args.bs, args.repeats)
    print("extraction:", report["extraction"], flush=True)
    report["fine_tune_epoch"] = training(args.size, 150, args.repeats)
    print("fine-tune epoch:", report["fine_tune_epoch"], flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
