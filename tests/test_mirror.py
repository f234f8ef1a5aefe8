"""Full mode through a mirror, without the internet (tlcourse/downloads.py).

A server on localhost plays the instructor's machine: it serves a small Oxford-IIIT Pet in fastai's
archive format (`oxford-iiit-pet.tgz`, two breeds) and ResNet-18 weights in torchvision's format
(`resnet18-f37072fd.pth`, a state dict), both made here, with a manifest of their sha256. With
TLCOURSE_MIRROR set, full mode's own code (`tl.load_items("pets")`, `tl.create_learner(dls,
"resnet18")`) downloads, checks, unpacks, loads and trains; a corrupted file is refused with a
clear error; a mirror that does not answer fails as fast as the internet does.
"""
import functools
import hashlib
import http.server
import json
import tarfile
import threading
import time

import numpy as np
import pytest
from PIL import Image

import tlcourse as tl
from tlcourse import downloads, training

BREEDS = ("Abyssinian", "beagle")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The mirror's folder: the pets archive, the ResNet-18 weights and their manifest."""
    import torch
    import torchvision
    root = tmp_path_factory.mktemp("mirror")
    images = root / "build" / "oxford-iiit-pet" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for b, breed in enumerate(BREEDS):
        for i in range(8):
            pixels = rng.integers(0, 100, (40, 40, 3), dtype=np.uint8)
            pixels[..., 2 * b] += 150          # one breed reddish, the other bluish: learnable at once
            Image.fromarray(pixels).save(images / f"{breed}_{i}.jpg")
    served = root / "served"
    served.mkdir()
    with tarfile.open(served / "oxford-iiit-pet.tgz", "w:gz") as tar:
        tar.add(root / "build" / "oxford-iiit-pet", arcname="oxford-iiit-pet")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), served / "resnet18-f37072fd.pth")
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({p.name: {"sha256": sha256(p)} for p in served.iterdir()}))
    return served, manifest


class Mirror(http.server.ThreadingHTTPServer):
    """`python -m http.server` on a free localhost port, in a thread, counting the files it sends."""

    def __init__(self, folder):
        self.requests = []
        handler = functools.partial(_Handler, directory=str(folder))
        super().__init__(("127.0.0.1", 0), handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):   # quiet; count instead
        self.server.requests.append(self.requestline)


@pytest.fixture
def fastai_home(monkeypatch, tmp_path):
    """fastai's folders in this test's tmp_path: nothing lands in the real caches. (fastai reads
    FASTAI_HOME once per process, `fastai_cfg` being cached: cleared before and after.)"""
    from fastai.data.external import fastai_cfg
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    fastai_cfg.cache_clear()
    yield tmp_path / "fastai"
    fastai_cfg.cache_clear()


@pytest.fixture
def mirror(files, monkeypatch, fastai_home):
    served, manifest = files
    server = Mirror(served)
    monkeypatch.setenv("TLCOURSE_MIRROR", server.url)
    monkeypatch.setenv("TLCOURSE_MANIFEST", str(manifest))
    yield server
    server.shutdown()
    server.server_close()


def test_full_mode_downloads_checks_unpacks_loads_and_trains_from_the_mirror(mirror, tmp_path):
    items = tl.load_items("pets")
    assert sorted(items["label"].unique()) == list(BREEDS) and len(items) == 16
    assert all(str(tmp_path / "fastai") in p for p in items["path"])
    dls = tl.get_dls("pets", size=32, n_per_class=4, valid_per_class=4, bs=4)
    learn = tl.create_learner(dls, "resnet18", seed=0)   # torchvision's loader reads the checked file
    assert (tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").exists()
    result = training.fine_tune(learn, 1, base_lr=1e-3, freeze_epochs=1, seed=0)
    assert 0 <= result["accuracy"] <= 1
    fetched = [r for r in mirror.requests if r.startswith("GET")]
    assert sorted(r.split()[1] for r in fetched) == ["/oxford-iiit-pet.tgz", "/resnet18-f37072fd.pth"]
    tl.load_items("pets")                                 # unpacked already: nothing is fetched again
    tl.create_learner(dls, "resnet18")
    assert len([r for r in mirror.requests if r.startswith("GET")]) == 2


def test_a_corrupted_file_is_refused_and_deleted(files, mirror, monkeypatch, tmp_path):
    served, _ = files
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "oxford-iiit-pet.tgz").write_bytes((served / "oxford-iiit-pet.tgz").read_bytes()[:-100] + b"x" * 100)
    corrupting = Mirror(broken)   # the same manifest, another copy of the file
    monkeypatch.setenv("TLCOURSE_MIRROR", corrupting.url)
    with pytest.raises(downloads.ChecksumError, match=r"oxford-iiit-pet.tgz is corrupt.*sha256.*deleted.*mirror"):
        tl.load_items("pets")
    assert not list((tmp_path / "fastai").rglob("oxford-iiit-pet*.tgz")), "the bad archive was deleted"
    assert not list((tmp_path / "fastai").rglob("images")), "nothing was unpacked"
    corrupting.shutdown()
    corrupting.server_close()


def test_a_file_the_manifest_does_not_know_is_refused_from_a_mirror(mirror, monkeypatch, tmp_path):
    (tmp_path / "empty.json").write_text("{}")
    monkeypatch.setattr(downloads, "MANIFEST", {})
    monkeypatch.setenv("TLCOURSE_MANIFEST", str(tmp_path / "empty.json"))
    with pytest.raises(downloads.ChecksumError, match="no checksum for it"):
        tl.create_learner(tl.get_dls("silhouettes", size=16, n_per_class=2, valid_per_class=2), "resnet18")


def test_a_mirror_that_does_not_answer_fails_fast(monkeypatch, fastai_home, silent_server, short_timeout):
    monkeypatch.setenv("TLCOURSE_MIRROR", silent_server.rsplit("/", 1)[0])
    start = time.perf_counter()
    with pytest.raises(tl.OfflineError, match="Could not download Oxford-IIIT Pet"):
        tl.load_items("pets")
    assert time.perf_counter() - start < 10


def test_the_mirror_takes_the_file_name_and_the_manifest_entries_print(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLCOURSE_MIRROR", "http://10.0.0.5:8000")
    assert downloads.source("https://download.pytorch.org/models/resnet50-11ad3fa6.pth") == \
        "http://10.0.0.5:8000/resnet50-11ad3fa6.pth"
    monkeypatch.delenv("TLCOURSE_MIRROR")
    assert downloads.source("https://x.org/a.tgz") == "https://x.org/a.tgz"
    (tmp_path / "a.bin").write_bytes(b"abc")
    downloads.main([str(tmp_path / "a.bin")])
    assert json.loads(capsys.readouterr().out) == {"a.bin": {"sha256": hashlib.sha256(b"abc").hexdigest()}}


def test_the_kinds_of_check_the_real_files_have(tmp_path, monkeypatch):
    # fastai's (size, MD5 of the first MiB) and torchvision's sha256 prefix: what MANIFEST holds for the real files
    from fastdownload import path_stats
    good = tmp_path / "resnet99-abc.pth"
    good.write_bytes(b"weights" * 1000)
    prefix = sha256(good)[:8]
    monkeypatch.setattr(downloads, "MANIFEST", {good.name: {"sha256_prefix": prefix, "fastai": list(path_stats(good))}})
    downloads.verify(good)                      # passes
    assert good.exists()
    good.write_bytes(b"weights" * 999)
    with pytest.raises(downloads.ChecksumError, match="sha256_prefix is"):
        downloads.verify(good)
    assert not good.exists()
    monkeypatch.setenv("TLCOURSE_MANIFEST", str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="TLCOURSE_MANIFEST=.*no such file"):
        downloads.manifest()


def test_an_archive_copied_by_hand_is_checked_and_unpacked_without_the_network(files, monkeypatch, fastai_home, tmp_path):
    served, manifest = files
    monkeypatch.setenv("TLCOURSE_MANIFEST", str(manifest))
    monkeypatch.setenv("TLCOURSE_MIRROR", "http://127.0.0.1:9/")    # nothing listens there: any request would fail
    archive = tmp_path / "fastai" / "archive" / "oxford-iiit-pet.tgz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes((served / "oxford-iiit-pet.tgz").read_bytes())   # the USB stick
    assert len(tl.load_items("pets")) == 16
