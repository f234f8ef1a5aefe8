"""Where the course decides how it runs: threads, device, progress bars, network.

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


# Where datasets made from packaged arrays, cached features and temporary weights live.
CACHE = Path(os.environ.get("TLCOURSE_DATA", Path.home() / ".cache" / "tlcourse"))


class OfflineError(ConnectionError):
    """Raised when full-mode loading needs the internet and cannot reach it."""


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
