"""Fine-tune from the command line, on one device or on several with Hugging Face accelerate.

    python -m tlcourse.finetune --dataset elpv --out runs/finetune                   # one device
    accelerate launch --num_processes 4 -m tlcourse.finetune --dataset pets \\
        --backbone resnet50 --size 224 --epochs 8 --out runs/pets                   # four GPUs
    accelerate launch --multi_gpu --num_processes 2 -m tlcourse.finetune ...         # on a CPU: 2 processes

This is notebook 02's recipe (`training.fine_tune`: the head, then every layer) inside fastai's
own distributed support, `Learner.distrib_ctx`: under `accelerate launch` each process holds a
copy of the model (DistributedDataParallel), reads its share of every batch and averages the
gradients with the others, so N GPUs see N times the images per step. Started with plain
`python`, the context does nothing and the same code trains on one device. On a machine without
a GPU, `--multi_gpu` still starts the processes (through torchrun) and they join over gloo, the
CPU backend (accelerate's own `--cpu` launch of several processes needs MPI): that is how the
tests run the distributed code path. Each process uses
`runtime.device()`, the GPU of its own local rank.

Writes to --out (from the first process only): `result.json` (accuracy on the whole validation
set, wall time, processes) and `model.pth` (the weights, as a state dict: load it with
`torch.load(..., weights_only=True)`) with `model.json` beside it (what rebuilds the network:
`python -m tlcourse.predict OUT new_images/` reads both, `predict.py`), each written to a temporary file and renamed, so a run
that stops never leaves half a file. Every process also writes `ranks/<rank>.json` with a
checksum of its weights: after training they must all agree.

Not about: choosing the recipe; see notebooks 02 and 03.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from . import cache, training
from .data import get_dls
from .models import create_learner
from .predict import save_model
from .runtime import device


def _atomic_write(path: Path, write) -> None:
    """`write(tmp)` then rename (`cache.writing`): readers see the whole file or none."""
    with cache.writing(path) as tmp:
        write(tmp)


def _broadcast(self, t, rank):
    """fastai's `DistributedDL._broadcast`, for any backend: fastai puts the batch indices on the
    GPU because NCCL needs that; gloo, the CPU backend, needs them on the CPU."""
    import torch.distributed as dist
    on = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(t, dtype=torch.long, device=on)
    dist.broadcast(t, rank)
    return t.cpu().tolist()


def weights_checksum(model: torch.nn.Module) -> str:
    """A short fingerprint of every parameter and buffer: equal weights, equal checksums."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="elpv", help="a named dataset or a folder with one sub-folder per class")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--n-per-class", type=int, default=None, help="training images per class (default: all)")
    parser.add_argument("--valid-per-class", type=int, default=None,
                        help="validation images per class (default: 20 %%; a folder's valid/ is kept as it is)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs with every layer training")
    parser.add_argument("--freeze-epochs", type=int, default=2, help="epochs of the head alone first")
    parser.add_argument("--lr", type=float, default=2e-3, help="base rate, as notebook 02's lr")
    parser.add_argument("--bs", type=int, default=32, help="images per batch in each process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/finetune"))
    args = parser.parse_args(argv)
    for name in ("size", "epochs", "bs", "n_per_class", "valid_per_class"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv=None) -> int:
    from fastai.distributed import DistributedDL, rank0_first   # (importing it adds Learner.distrib_ctx)
    from fastai.torch_core import num_distrib, rank_distrib

    args = parse(argv)
    rank, processes = rank_distrib(), max(num_distrib(), 1)
    on_gpu = device().type == "cuda"
    if not on_gpu:   # accelerate then joins the processes over gloo (a CPU has no NCCL)
        os.environ["ACCELERATE_USE_CPU"] = "true"
        DistributedDL._broadcast = _broadcast
    # The first process prepares the data (a download in full mode, PNG files offline) before
    # the others read it, so they never race to write the same files.
    dls = rank0_first(get_dls, args.dataset, size=args.size, n_per_class=args.n_per_class,
                      valid_per_class=args.valid_per_class, seed=args.seed, bs=args.bs)
    learn = create_learner(dls, args.backbone, pretrained=args.backbone != "small_cnn")
    before = weights_checksum(learn.model)
    # SyncBatchNorm (BatchNorm statistics shared across GPUs) exists only on CUDA.
    with learn.distrib_ctx(sync_bn=on_gpu):
        result = training.fine_tune(learn, args.epochs, base_lr=args.lr, freeze_epochs=args.freeze_epochs,
                                    seed=args.seed, method=f"fine-tuned, {processes} process(es)")
    checksum = weights_checksum(learn.model)
    _atomic_write(args.out / "ranks" / f"{rank}.json",
                  lambda tmp: tmp.write_text(json.dumps({"rank": rank, "checksum": checksum})))
    if rank == 0:
        summary = {"accuracy": result["accuracy"], "seconds": result["seconds"], "processes": processes,
                   "device": str(device()), "validation_images": len(dls.valid_ds),
                   "batch_per_process": args.bs, "checksum_before": before, "checksum": checksum, **{k: str(v) for k, v in vars(args).items()}}
        save_model(learn, args.out)   # model.pth and model.json
        _atomic_write(args.out / "result.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
        print(f"{processes} process(es) on {device()}: accuracy {result['accuracy']:.3f} "
              f"in {result['seconds']:.1f} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
