"""Write requirements-lock.txt: every package of the environment that produced the committed
outputs, at the version installed there, with the markers other platforms need.

    make lock        # from the course's .venv, after a change to pyproject.toml's pins

The versions come from `pip freeze` of that environment, not from a fresh resolve, so a new
numpy on the index never slips in. uv then resolves pyproject.toml for every platform at once
(`uv pip compile --universal`) with those versions as constraints: it only adds environment
markers, and the few packages other platforms need that this one does not (colorama on
Windows, appnope on macOS), which it takes at their newest. Packages that pyproject.toml pins
per platform (torch and torchvision: macOS has no wheel of the Linux versions) are left to
those pins. The machine's pip indexes are passed on to uv, which does not read pip's config.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
LOCK = ROOT / "requirements-lock.txt"
HEADER = """\
# Every package of the course, at the versions that produced the committed notebook outputs
# (Linux x86_64, Python 3.11). Written by `make lock` (tools/lock.py) from that environment;
# installed by `make install`. Markers serve other platforms: checked to resolve for Linux
# aarch64, Windows x86_64 and macOS arm64 (there with torch 2.10.0, the newest macOS wheel;
# outputs then differ in the last digits, and `make test` says so before comparing them).
"""


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~; \[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def pip_sources(python: str, constraints: bool = False) -> list[str]:
    """The package sources pip is configured with (its config files and PIP_* variables), as uv's
    options: uv does not read pip's configuration. With `constraints`, pip's constraint files too."""
    keys = [("index-url", "--index-url"), ("extra-index-url", "--extra-index-url"), ("find-links", "--find-links")]
    keys += [("constraint", "--constraint")] if constraints else []
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    args = []
    for key, flag in keys:
        values = {}   # the last place that sets a key wins (pip's order: files, then the environment)
        for line in listed.splitlines():
            name, _, value = line.partition("=")
            if name.split(".", 1)[-1] == key:
                values = value.strip("'\"").split()
        args += [arg for value in values for arg in (flag, value)]
    return args


def main(python: str, uv: str | None = None) -> int:
    if uv is None:
        from install import uv as find_uv   # the same runs/uv that `make install` uses
        uv = find_uv()
        if uv is None:
            sys.exit("make lock needs uv (its universal resolver adds the other platforms' markers)")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    per_platform = {_name(r) for r in project["dependencies"] if ";" in r}
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    constraints = [line for line in frozen if line and _name(line) not in per_platform]
    indexes = pip_sources(python)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as file:
        file.write("\n".join(constraints) + "\n")
        file.flush()
        subprocess.run([uv, "pip", "compile", str(ROOT / "pyproject.toml"), "--extra", "dev", "--universal",
                        "--python-version", "3.11.7", "-c", file.name, *indexes,
                        "--index-strategy", "unsafe-best-match", "--no-header", "--no-annotate",
                        "-o", str(LOCK)], check=True)
    LOCK.write_text(HEADER + LOCK.read_text())
    print(f"wrote {LOCK.name}: {sum(1 for l in LOCK.read_text().splitlines() if '==' in l)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
