"""Shared fixtures: tiny image folders made on the fly, so tests need no network."""
import numpy as np
import pytest
from PIL import Image


def make_folder(root, classes=("cat", "dog"), per_class=6, size=16):
    """A folder laid out one sub-folder per class, with random RGB images."""
    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def tiny_dls(root, size=16, per_class=12):
    """DataLoaders over a tiny two-class folder: 10 training and 2 validation images per class."""
    import tlcourse as tl
    folder = make_folder(root / "images", classes=("a", "b"), per_class=per_class, size=size)
    return tl.get_dls(folder, size=size, valid_per_class=2, bs=4)


def stand_in_learner(dls):
    """A learner whose body stands in for a pretrained one: a small CNN's body, frozen, and a
    new head, as `create_learner(..., body=...)` builds after a source task."""
    import tlcourse as tl
    return tl.create_learner(dls, "small_cnn", body=tl.create_learner(dls, "small_cnn", pretrained=False).model[0])


@pytest.fixture(autouse=True)
def float32_unless_a_test_says_otherwise(monkeypatch):
    """Unit tests compare with float32 references (scikit-learn, sentence-transformers, plain
    torch), so they run under the `fp32` policy whatever the machine's `auto` would pick;
    tests/test_precision.py sets the other policies itself."""
    from tlcourse import runtime
    monkeypatch.setattr(runtime, "_precision", "fp32")
    yield
    runtime.close_autocast()   # a test that stopped a run mid-batch leaves nothing to the next


@pytest.fixture
def image_folder(tmp_path):
    return make_folder(tmp_path / "images")


@pytest.fixture
def silent_server():
    """A URL on localhost whose server accepts connections and never answers:
    the case where a download without a timeout hangs forever."""
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # the kernel completes connections into the backlog; nobody reads them
    yield f"http://127.0.0.1:{server.getsockname()[1]}/weights.pth"
    server.close()


@pytest.fixture
def short_timeout(monkeypatch):
    from tlcourse import runtime
    monkeypatch.setattr(runtime, "NETWORK_TIMEOUT", 1.0)


class JupyterLab:
    """`make lab` itself (the environment's own `jupyter lab`), headless on a free localhost port
    with a token and the given root folder; `api(path)` calls its REST API. A context manager."""

    def __init__(self, root, env, log):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token, self.root, self.env, self.log = "course-test", root, env, log
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        import subprocess
        import sys
        import time
        from pathlib import Path
        repository = Path(__file__).resolve().parents[1]
        options = (f"--no-browser --port={self.port} --ServerApp.ip=127.0.0.1 "
                   f"--IdentityProvider.token={self.token} --ServerApp.root_dir={self.root}")
        self.server = subprocess.Popen(
            ["make", "-s", "-C", str(repository), "lab", f"LAB_ARGS={options}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), start_new_session=True)
        for _ in range(120):   # it starts in a few seconds
            try:
                self.api("kernelspecs")
                return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        pytest.fail("JupyterLab did not answer: " + open(self.log).read()[-2000:])

    def __exit__(self, *exc):
        import os
        import signal
        os.killpg(self.server.pid, signal.SIGTERM)   # make and the server it started
        self.server.wait(timeout=30)

    def api(self, path, body=None, method=None):
        import json
        import urllib.request
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
