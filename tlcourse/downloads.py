"""Full mode's downloads: from the internet or from a mirror in the room, always checked.

Full mode downloads datasets (fastai's archives, through fastai's own downloader) and ImageNet
weights (torchvision's files). For a workshop without a good connection, one machine can serve
the files to the room, and one setting sends every download there:

    python -m http.server 8000 --directory full_mode_files/      # on the instructor's machine
    export TLCOURSE_MIRROR=http://192.168.1.10:8000/            # on each laptop, before Jupyter starts

With `TLCOURSE_MIRROR` set, a file is fetched from the mirror under its own file name
(`.../oxford-iiit-pet.tgz`, `.../resnet50-11ad3fa6.pth`). fastai's and torchvision's own checks
key on the public URLs, which a mirror does not have, so every file is checked here, against the
course's manifest (`MANIFEST`, keyed by file name) before it is unpacked or loaded. A file that
does not match is deleted and raises `ChecksumError`; a file the manifest does not know is
refused when it comes from a mirror. `TLCOURSE_MANIFEST` names a JSON file of more entries
({file name: {"sha256": ...}}), for files an instructor adds; `python -m tlcourse.downloads FILES`
prints such entries. A mirror that does not answer fails as fast as the internet does
(`runtime.network`). Introduced in the README, "Offline and full mode".
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .runtime import network

MIRROR_VARIABLE, MANIFEST_VARIABLE = "TLCOURSE_MIRROR", "TLCOURSE_MANIFEST"

# What each real file is known to be, from the libraries that publish them (the full files' sha256
# could not be taken here, offline; `python -m tlcourse.downloads FILE` prints it where the file is):
# "md5" is a whole file's, "fastai" is fastai's own check (size, md5 of the first MiB;
# fastai/data/download_checks.py), "sha256_prefix" torchvision's (the start of the sha256 its file names carry).
MANIFEST = {
    "oxford-iiit-pet.tgz": {"fastai": [811706944, "e4db5c768afd933bb91f5f594d7417a4"]},
    "imagenette2-160.tgz": {"fastai": [99003388, "c475f8f7617a200ba35b9facc48443c3"],
                            "md5": "e793b78cc4c9e9a4ccc0c1155377a412"},   # torchvision.datasets.Imagenette's
    "resnet18-f37072fd.pth": {"sha256_prefix": "f37072fd"},
    "resnet34-b627a593.pth": {"sha256_prefix": "b627a593"},
    "resnet50-11ad3fa6.pth": {"sha256_prefix": "11ad3fa6"},
}


class ChecksumError(ValueError):
    """A downloaded file is not the file the course's manifest describes."""


def mirror() -> str | None:
    """The mirror's base URL (`TLCOURSE_MIRROR`), or None: download from the internet."""
    base = os.environ.get(MIRROR_VARIABLE, "").strip()
    return base.rstrip("/") + "/" if base else None


def source(url: str) -> str:
    """Where `url`'s file is fetched from: the mirror, under the file's own name, or `url` itself."""
    base = mirror()
    return base + Path(urlsplit(url).path).name if base else url


def manifest() -> dict:
    """The course's entries, and the ones in the JSON file named by `TLCOURSE_MANIFEST` (they
    replace the course's entry for the same file name)."""
    extra = os.environ.get(MANIFEST_VARIABLE)
    if extra and not Path(extra).is_file():
        raise FileNotFoundError(f"{MANIFEST_VARIABLE}={extra}: no such file. Give the absolute path of the JSON "
                                "file that `python -m tlcourse.downloads FILES` printed, on this machine.")
    return {**MANIFEST, **(json.loads(Path(extra).read_text()) if extra else {})}


def _from(what: str) -> str:
    # The download's name in an error: with the mirror's address, so a mistyped one is plain to see.
    return f"{what} from the mirror {mirror()}" if mirror() else what


def _digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()   # streamed: an 800 MB archive is never read whole


def verify(path: Path) -> None:
    """Check a downloaded file against its manifest entry; delete it and raise `ChecksumError`
    if it differs. A file with no entry passes only when it came from the public URL, where
    fastai and torchvision check it themselves."""
    from fastdownload import path_stats
    entry = manifest().get(path.name)
    if entry is None:
        if mirror():
            path.unlink(missing_ok=True)
            raise ChecksumError(f"{path.name} came from the mirror {mirror()}, but the course's manifest has no "
                                f"checksum for it; add one in a JSON file named by {MANIFEST_VARIABLE}.")
        return
    found = {"sha256": lambda: _digest(path, "sha256"), "md5": lambda: _digest(path, "md5"),
             "sha256_prefix": lambda: _digest(path, "sha256")[:len(entry["sha256_prefix"])],
             "fastai": lambda: list(path_stats(path))}
    for kind, expected in entry.items():
        got = found[kind]()
        if got != expected:
            path.unlink(missing_ok=True)
            raise ChecksumError(f"{path.name} is corrupt or not the expected file: its {kind} is {got}, the "
                                f"course's manifest says {expected}. It was deleted; download it again"
                                + (f", or replace the mirror's copy ({mirror()})." if mirror() else "."))


def fetch_archive(url: str, what: str, offline_alternative: str) -> Path:
    """A fastai dataset archive downloaded (fastai's `FastDownload`, as `untar_data` does), checked,
    then unpacked into fastai's data folder (~/.fastai/data); the unpacked folder. Nothing is
    fetched when it is unpacked already, or when the archive is in ~/.fastai/archive (copied
    there from a USB stick, say): then it is checked and unpacked."""
    from fastai.data.external import fastai_cfg
    from fastcore.net import urldest
    from fastdownload import FastDownload
    import fastai.data
    manifest()   # a missing manifest file fails now, not after the download
    fetcher = FastDownload(fastai_cfg(), module=fastai.data, base="~/.fastai")
    fetcher.arch_path().mkdir(parents=True, exist_ok=True)   # (urldest names a file only inside a folder that exists)
    archive = urldest(url, fetcher.arch_path())
    data = fetcher.data_path("data", archive)
    if data.exists():
        return data
    if not archive.exists():   # (an archive copied into fastai's archive folder by hand is used as it is)
        with network(_from(what), offline_alternative, url=source(url)):
            fetcher.download(source(url))
    verify(archive)
    return fetcher.extract(source(url))


def fetch_weights(url: str, what: str, offline_alternative: str) -> Path:
    """A weight file downloaded into torch's hub cache (where torchvision then loads it) and
    checked; the file. Nothing is fetched when it is there."""
    import torch
    manifest()
    path = Path(torch.hub.get_dir(), "checkpoints", Path(urlsplit(url).path).name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with network(_from(what), offline_alternative, url=source(url)):
            torch.hub.download_url_to_file(source(url), str(path), progress=False)   # a temporary file, then renamed
        verify(path)
    return path


def main(argv=None) -> int:
    """Print manifest entries (sha256) for files, to serve them from a mirror."""
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    print(json.dumps({p.name: {"sha256": _digest(p, "sha256")} for p in paths}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
