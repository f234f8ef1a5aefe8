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
