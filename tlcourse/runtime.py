"""Where the course decides how it runs: threads, precision, device, progress bars, network.

Every other module imports these settings instead of deciding for itself, so a
notebook, a test and `make run` all behave the same way. Introduced in notebook 00.

Not about: training or data; only the environment they run in.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import torch

from .checks import checked, number, whole

# Two torch threads are fastest on an idle 2-core machine, but two processes with
# two threads each stall each other badly, and 1-thread and 2-thread runs give
# different (each reproducible) numbers. So the count is fixed here, once, and
# stored notebook outputs are produced with the default.
THREADS = int(os.environ.get("TLCOURSE_THREADS", "2"))

# `make run` and `make test-notebooks` set TLCOURSE_PROGRESS=0: nbval cannot replay
# fastprogress's live updates, so unattended runs print plain-text results instead.
# In JupyterLab the variable is unset and learners see live progress bars.
SHOW_PROGRESS = os.environ.get("TLCOURSE_PROGRESS", "1") != "0"

# How long a download may wait for a silent server before we give up. torch.hub
# and urllib have no timeout of their own and were seen to hang.
NETWORK_TIMEOUT = float(os.environ.get("TLCOURSE_NETWORK_TIMEOUT", "5"))


# --------------------------------------------------------------------------- precision
#
# bfloat16 keeps float32's range with 8 bits of mantissa; `torch.autocast` runs convolutions
# and matrix products in it while the weights stay float32. It pays only where the hardware
# computes it natively, and on this kind of CPU (AVX-512 BF16, 2 cores) only for some kinds of
# work. Measured by benchmarks/precision.py (README, "Precision"; results/precision_steps.csv):
# forward passes ran 2.5-2.7x faster (EfficientNet-Lite0 and the MiniLM encoder), steps that
# train only a head or BatchNorm layers 1.2-2.0x and fine-tuning the MiniLM encoder 1.4x, but
# every step in which convolution weights learn ran at 0.74-0.78x: the weight gradients of
# bfloat16 convolutions are slow on this CPU.
PRECISIONS = ("auto", "bf16", "fp32")
# The kinds of work the policy tells apart: forward passes only; training in which no
# convolution's weights learn (heads, BatchNorm layers, transformers); training convolutions.
WORK = ("inference", "training", "conv training")
# What `auto` runs in bfloat16 where the hardware has it natively; everything else is float32.
AUTO_BF16 = {"inference": True, "training": True, "conv training": False}

# `auto` is the default: benchmarks/precision.py ran every notebook under fp32 and auto (three
# seeds where a notebook takes one) and found every notebook's accuracy figures within a point of
# float32's on average (README, "Precision"). The committed outputs are made with it.
DEFAULT_PRECISION = "auto"
_precision = os.environ.get("TLCOURSE_PRECISION", DEFAULT_PRECISION)


def _check_precision(value: str) -> str:
    if value not in PRECISIONS:
        raise ValueError(f"Unknown precision {value!r}: use one of {', '.join(PRECISIONS)} "
                         "(TLCOURSE_PRECISION or tlcourse.runtime.set_precision).")
    return value


def set_precision(value: str) -> None:
    """Choose the precision policy for this process: "auto" (the default), "bf16" or "fp32".
    The environment variable TLCOURSE_PRECISION sets it for notebooks, tests and `make run`."""
    global _precision
    _precision = _check_precision(value)


def precision() -> str:
    """The policy in force: "auto", "bf16" or "fp32"."""
    return _check_precision(_precision)


def bf16_native(where: torch.device | None = None) -> bool:
    """Does this device compute bfloat16 natively? A CUDA GPU that supports it, or a CPU with
    AVX-512 BF16 or AMX (elsewhere torch emulates bfloat16 on the CPU, slower than float32)."""
    where = device() if where is None else where
    if where.type == "cuda":   # emulated bfloat16 (T4, V100) is slower than float32
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if where.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def dtype_for(work: str) -> torch.dtype:
    """The dtype autocast computes `work` in (one of `WORK`) under the policy in force."""
    if work not in WORK:
        raise ValueError(f"Unknown kind of work {work!r}: use one of {', '.join(WORK)}.")
    policy = precision()
    if policy == "bf16" or (policy == "auto" and AUTO_BF16[work] and bf16_native()):
        return torch.bfloat16
    return torch.float32


def autocast(work: str):
    """A context in which `work` runs at the policy's precision: `torch.autocast` with bfloat16,
    or nothing at all for float32. Weights stay float32 either way. Used by every entry point
    that computes (features, predictions, the text encoder, fastai training through
    `training.Precision`); introduced in notebook 00."""
    close_autocast()   # one a stopped training run left open must not change this work's precision
    dtype = dtype_for(work)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device().type, dtype=dtype)


# Contexts opened by `open_autocast` and not closed yet: a fastai callback cannot use `with`, and a
# run stopped mid-batch (Ctrl-C in a notebook) never reaches the callback that would close it.
_held: list = []
_closes_after_each_cell = False


def open_autocast(work: str) -> None:
    """Enter `autocast(work)` until `close_autocast()`; for callbacks (`training.Precision`).
    Whatever a stopped run left open is closed first, and in IPython after every cell."""
    global _closes_after_each_cell
    ctx = autocast(work)
    ctx.__enter__()
    _held.append(ctx)
    if not _closes_after_each_cell:
        try:
            from IPython import get_ipython
            shell = get_ipython()
        except ImportError:
            shell = None
        if shell is not None:
            shell.events.register("post_run_cell", lambda result: close_autocast())
            _closes_after_each_cell = True


def close_autocast() -> None:
    """Leave every context `open_autocast` entered (nothing if none is open)."""
    while _held:
        _held.pop().__exit__(None, None, None)


# The instruction sets whose presence changes which kernels torch and oneDNN run.
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu() -> str:
    """The processor, as far as it changes results: vendor, family and model, name, cache size
    and the vector instruction sets. Runs that train a network reproduce to the last digit only on
    the same kind of CPU: notebooks made on an AMD EPYC did not reproduce on an Intel Xeon with
    AMX (the forward passes did; the first training runs already differed in the third digit)."""
    import platform
    try:
        info = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    return (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, "
            f"{fields.get('model name', '?')}, cache {fields.get('cache size', '?')}, "
            + " ".join(f for f in _CPU_FLAGS if f in flags))


def environment() -> dict:
    """What the numbers a run prints depend on besides the code and the packages: the
    precision of each kind of work, the thread count, the device and the processor. `tlcourse.maintain.run` stores it
    in every notebook it executes, and checks it before comparing a run with committed outputs."""
    where = device()
    return {"precision": precision(), "bf16_native": bf16_native(where),
            **{work: str(dtype_for(work)).replace("torch.", "") for work in WORK},
            "threads": THREADS if where.type == "cpu" else None, "device": where.type,
            "cpu": cpu(), "torch": torch.__version__}


def report() -> str:
    """How this process computes, in one sentence; each notebook's first cell prints it."""
    env = environment()
    names = {"inference": "inference", "training": "training where no convolution learns",
             "conv training": "training convolutions"}
    by_dtype = {}
    for work in WORK:
        by_dtype.setdefault(env[work], []).append(names[work])
    how = ("; ".join(f"{dtype} for {' and '.join(works)}" for dtype, works in by_dtype.items())
           if len(by_dtype) > 1 else f"{env['inference']} for all work")
    native = "computes" if env["bf16_native"] else "does not compute"
    where = f"{env['threads']} CPU threads" if env["device"] == "cpu" else "the GPU"
    return (f"Precision {env['precision']!r}: {how}. This {env['device'].upper()} {native} bfloat16 "
            f"natively. Torch uses {where}.")


# Where datasets made from packaged arrays, cached features and temporary weights live.
CACHE = Path(os.environ.get("TLCOURSE_DATA", Path.home() / ".cache" / "tlcourse"))


class OfflineError(ConnectionError):
    """Raised when full-mode loading needs the internet and cannot reach it."""


@checked(n=whole(1, hint="threads for torch"))
def set_threads(n: int = THREADS) -> None:
    """Apply the course's thread policy to torch (called on `import tlcourse`). Processes that
    `accelerate launch` starts side by side on the CPU share the cores instead of each taking
    all of them (`tlcourse.finetune`)."""
    if not torch.cuda.is_available():
        n = max(1, n // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(n)


def device() -> torch.device:
    """The one place that picks the device: a GPU when there is one, else the CPU. Under
    `accelerate launch` each process takes the GPU of its local rank (`tlcourse.finetune`)."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


@checked(seconds=number(0))
def format_seconds(seconds: float) -> str:
    """Print durations one way everywhere ("12.3 s"), so nbval's sanitizer can find them."""
    return f"{seconds:.1f} s"


class Timer:
    """`with Timer() as t: ...; t.seconds` -- wall time of a block."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


# The ways a download fails when there is no network or the server is silent.
_NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, socket.gaierror,
                   http.client.HTTPException)


@contextlib.contextmanager
def network(what: str, offline_alternative: str, url: str | None = None, timeout: float | None = None):
    """Run a download with a timeout, turning any network failure into `OfflineError`.

    `what` names the download, `offline_alternative` the thing to use instead;
    both go into the message a learner reads. With `url`, the server is first asked
    for the file's headers within `timeout`: some downloaders (fastcore's, under
    fastai's `untar_data`) pass `timeout=None` and would otherwise wait forever.
    """
    timeout = NETWORK_TIMEOUT if timeout is None else timeout
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        if url is not None:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        yield
    except OfflineError:
        raise
    except _NETWORK_ERRORS as err:
        raise OfflineError(
            f"Could not download {what} (no internet, or the server did not answer within "
            f"{timeout:g} s: {err}). Offline, use {offline_alternative}."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
