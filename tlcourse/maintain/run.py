"""Execute the course's notebooks with papermill and gather their recorded figures.

    python -m tlcourse.maintain.run --out runs/offline notebooks/*.ipynb   # execute, then collect
    python -m tlcourse.maintain.run --inplace notebooks/00_concepts.ipynb  # regenerate committed outputs
    python -m tlcourse.maintain.run --collect runs/offline                 # only rebuild results.csv
    python -m tlcourse.maintain.run --compare runs/offline notebooks/*.ipynb  # did a run reproduce them?
    python -m tlcourse.maintain.run --check-machine notebooks/*.ipynb      # can this machine reproduce them?

Notebooks run one after another, never side by side: on two cores, two torch
processes stall each other. Progress bars are switched off (TLCOURSE_PROGRESS=0)
because nbval cannot replay them; the notebooks print their results as text.

Not about: what the notebooks compute; see each notebook and the modules it imports.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from ..results import changed, recorded
from ..runtime import THREADS, WORK, environment, format_seconds

MODES = ("offline", "full")


def execute(notebook: Path, output: Path, mode: str = "offline", timeout: int = 600,
            parameters: dict | None = None) -> float:
    """Run one notebook with papermill; returns its wall time in seconds.

    In offline mode no parameter is injected, so a regenerated notebook is exactly
    what a learner runs; other modes inject `mode`, and `parameters` (a seed, for
    `tlcourse.maintain.evidence`) are injected as given. `timeout` is per cell: a cell
    that hangs fails the run instead of blocking it.
    """
    import papermill

    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}: use one of {MODES}.")
    os.environ["TLCOURSE_PROGRESS"] = "0"           # inherited by the kernel
    os.environ["TLCOURSE_THREADS"] = str(THREADS)  # the same thread count as this process
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(notebook), str(output), parameters={**({} if mode == "offline" else {"mode": mode}), **(parameters or {})},
        cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
        execution_timeout=timeout)
    seconds = time.perf_counter() - start
    _stamp(output)
    return seconds


def _stamp(path: Path) -> None:
    # What the printed numbers depend on besides code and packages (precision, threads, device),
    # kept in the notebook's metadata, which nbval does not compare; see `check_machine`.
    import nbformat
    nb = nbformat.read(path, as_version=4)
    nb.metadata["tlcourse"] = environment()
    nbformat.write(nb, path)


# What the user sets (TLCOURSE_PRECISION, TLCOURSE_THREADS); everything else in the run
# environment comes with the machine and its install (processor, native bfloat16, device, torch).
SETTINGS = ("precision", "threads")


def check_machine(notebooks) -> dict[str, list[str]]:
    """Why this machine cannot reproduce the committed outputs of `notebooks`, one line per
    difference from the run environment each notebook records: under "settings" what the user
    can set to match, under "machine" what comes with the hardware or the install. Both empty:
    it can.

    Run before comparing digit for digit, so a machine that cannot match says so once, clearly,
    instead of failing cell by cell."""
    import nbformat
    here = environment()
    problems = {"settings": [], "machine": []}
    for notebook in notebooks:
        made = nbformat.read(notebook, as_version=4).metadata.get("tlcourse")
        if made is None:
            problems["settings"].append(f"{Path(notebook).name} records no run environment: regenerate it "
                                        "(make notebooks).")
            continue
        float32_only = all(made.get(work) == "float32" for work in WORK)
        same_device = made.get("device") == here.get("device")
        for key, value in made.items():
            if key == "bf16_native" and float32_only:
                continue  # a float32 run does not depend on it
            if here.get(key) != value:
                # on another device (a GPU) even the thread count is not the user's to match
                kind = "settings" if key in SETTINGS and same_device else "machine"
                problems[kind].append(f"{key}: the committed outputs were made with {value!r}, "
                                      f"this machine has {here.get(key)!r}")
    return {kind: list(dict.fromkeys(lines)) for kind, lines in problems.items()}   # once each


def _report_machine(notebooks, quiet: bool) -> int:
    problems = check_machine(notebooks)
    say = (lambda *a, **k: None) if quiet else print
    if problems["settings"]:
        say("This run is set up differently from the one that made the committed outputs:\n  "
            + "\n  ".join(problems["settings"] + problems["machine"])
            + "\nSet TLCOURSE_PRECISION and TLCOURSE_THREADS as recorded (README, \"Precision\"), "
            "or regenerate the outputs (make notebooks).", file=sys.stderr)
        return 1
    if problems["machine"]:
        say("This machine cannot reproduce the committed outputs digit for digit:\n  "
            + "\n  ".join(problems["machine"])
            + "\nTraining runs round differently on another kind of processor or torch build. The notebooks "
            "still run (make run), but make test will not compare their outputs with the committed ones.")
        return 3
    say("This machine can reproduce the committed outputs digit for digit.")
    return 0


def collect(folder: Path) -> pd.DataFrame:
    """One table of every executed notebook in `folder`: its recorded figures and wall time."""
    import nbformat

    rows = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        seconds = nb.metadata.get("papermill", {}).get("duration")
        rows.append({"notebook": path.stem, "figure": "wall_seconds", "value": seconds})
        rows += [{"notebook": path.stem, "figure": k, "value": v} for k, v in recorded(nb).items()]
    table = pd.DataFrame(rows, columns=["notebook", "figure", "value"])
    table.to_csv(Path(folder) / "results.csv", index=False)
    return table


def differences(committed, executed) -> list[str]:
    """Recorded figures that differ between two runs of one notebook (`changed`). Empty when the
    second run reproduced the first: the check behind `python -m tlcourse.maintain.run --compare`."""
    found = []
    for name, old, new in changed(recorded(committed), recorded(executed)):
        if old is None or new is None:
            found.append(f"{name}: recorded only in the {'committed' if new is None else 'new'} run")
        else:
            found.append(f"{name}: {old} committed, {new} now")
    return found


def compare(notebooks, folder: Path) -> int:
    """Check that the runs in `folder` reproduced the committed notebooks' recorded figures to
    the printed digit; prints what differs. Returns the number of notebooks that differ."""
    import nbformat
    failed = 0
    for notebook in notebooks:
        executed = Path(folder) / Path(notebook).name
        if not executed.exists():
            raise FileNotFoundError(f"{executed} does not exist: run the notebooks first (make run).")
        made = {path: nbformat.read(path, as_version=4).metadata.get("tlcourse") for path in (notebook, executed)}
        if made[executed] is not None and made[executed] != made[notebook]:
            failed += 1   # an older run under other settings: its figures say nothing
            print(f"{Path(notebook).stem}: the run in {folder} was made under {made[executed]}, the committed "
                  f"notebook under {made[notebook]}: run it again (make clean run)")
            continue
        found = differences(notebook, executed)
        failed += bool(found)
        print(f"{Path(notebook).stem}: " + ("reproduced" if not found else "DIFFERS\n  " + "\n  ".join(found)))
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--mode", default="offline", choices=MODES)
    parser.add_argument("--out", type=Path, default=Path("runs/offline"))
    parser.add_argument("--inplace", action="store_true", help="overwrite the notebooks themselves")
    parser.add_argument("--collect", type=Path, help="only gather results.csv from this folder")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--compare", type=Path, metavar="FOLDER",
                        help="check the runs in FOLDER reproduced the given notebooks' recorded figures")
    parser.add_argument("--check-machine", action="store_true",
                        help="can this machine reproduce the given notebooks' committed outputs? "
                             "exit 0: yes; 1: a setting differs; 3: the machine differs")
    parser.add_argument("--quiet", action="store_true", help="with --check-machine: only the exit code")
    args = parser.parse_args(argv)

    if args.check_machine:
        # exit 0: it can; 1: a setting differs (an error); 3: the machine differs (compare nothing)
        return _report_machine(args.notebooks, args.quiet)

    if args.compare:
        return 1 if compare(args.notebooks, args.compare) else 0

    if args.collect:
        print(collect(args.collect).to_string(index=False))
        return 0
    if args.inplace and args.mode != "offline":
        parser.error("--inplace regenerates the committed, offline outputs; use --out for other modes.")
    if not args.notebooks:
        parser.error("name at least one notebook")
    for notebook in args.notebooks:
        output = notebook if args.inplace else args.out / notebook.name
        print(f"running {notebook} ({args.mode}) -> {output}", flush=True)
        seconds = execute(notebook, output, args.mode, args.timeout)
        print(f"  done in {format_seconds(seconds)}", flush=True)
    if not args.inplace:
        print(collect(args.out).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
