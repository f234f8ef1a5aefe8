"""Install the course into .venv: the lock, the course itself (editable), and the weights-only
packages without their dependencies (requirements-nodeps.txt). `make install` runs it.

    python3 tools/install.py .venv/bin/python requirements-lock.txt   # or LOCK "none"

uv installs in about half the time pip takes, so it is used when it can be had: it is put in its
own small environment (runs/uv, as `make lock` does) and given the package sources and
constraints of this machine's pip configuration, which it does not read itself. Where uv cannot
be installed, plain pip does the same work. Both compile bytecode at install time (without .pyc
files, where PYTHONDONTWRITEBYTECODE is set, `import torch` takes several times longer).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lock import pip_sources

ROOT = Path(__file__).resolve().parents[1]
UV_VERSION = "0.13.8"
UV = ROOT / "runs" / "uv" / "bin" / "uv"
QUIET_PIP = ["--quiet", "--progress-bar", "off"]


def uv() -> Path | None:
    """runs/uv/bin/uv, installed there first if needed; None where it cannot be installed."""
    if not UV.exists():
        venv = UV.parents[1]
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode == 0 and run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", *QUIET_PIP, f"uv=={UV_VERSION}"], check=False) == 0
        if not made:
            print("install: uv could not be installed; plain pip installs instead (about twice as long)")
            return None
    return UV


def run(command: list, check: bool = True) -> int:
    """Run an install command; stop the install if it fails (unless `check` is False)."""
    # pip warns about every local index folder that lacks a package: noise, not a problem
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    sys.stderr.write("".join(line for line in done.stderr.splitlines(keepends=True) if "is ignored: it is neither" not in line))
    if done.returncode and check:
        sys.exit(done.returncode)
    return done.returncode


def main(python: str, lock: str) -> None:
    start = time.perf_counter()
    tool = uv() if lock != "none" else None   # LOCK=none lets pip resolve pyproject.toml's pins
    if tool is not None:
        install = [str(tool), "pip", "install", "--quiet", "--python", python, "--compile-bytecode",
                   "--index-strategy", "unsafe-best-match", *pip_sources(python, constraints=True)]
        run(install + ["-r", str(ROOT / lock)])
        run(install + ["--no-deps", "-e", str(ROOT)])
    else:
        pip = [python, "-m", "pip", "install", *QUIET_PIP]
        run(pip + (["-e", f"{ROOT}[dev]"] if lock == "none" else ["-r", str(ROOT / lock)]))
        if lock != "none":
            run(pip + ["--no-deps", "-e", str(ROOT)])
        install = pip
    run(install + ["--no-deps", "-r", str(ROOT / "requirements-nodeps.txt")])
    print(f"install: {'uv' if tool else 'pip'}, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
