"""The instructor guide's timing table, written from a results table, never typed by hand.

    python -m tlcourse.maintain.guide runs/offline/results.csv docs/instructor_guide.md

reads the wall time of every notebook from `results.csv` (what `make run` writes), the
reading time each notebook states in its opening cell ("... 30 minutes to read and try"),
and rewrites the table between the guide's two marker lines. `make guide` runs it after
`make run` and keeps a copy of the results it used in `docs/timings.csv`.

Not about: running the notebooks (run.py) or what they record (results.py).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

START, END = "<!-- timings:start -->", "<!-- timings:end -->"
NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
_READING = re.compile(r"(\d+)(?:[–-](\d+))? minutes to read and try")


def _opening(notebook: Path) -> tuple[str, str]:
    """A notebook's title and the reading time it states, e.g. ("Concepts: ...", "20–30")."""
    import nbformat
    first = nbformat.read(notebook, as_version=4).cells[0].source
    title = next((line.lstrip("# ").split("·", 1)[-1].strip() for line in first.splitlines()
                  if line.startswith("# ")), notebook.stem)
    reading = _READING.search(first)
    if reading is None:
        raise ValueError(f"{notebook.name} does not say how long it takes to read ('N minutes to read and try').")
    return title, "–".join(g for g in reading.groups() if g)


def timing_table(results: pd.DataFrame, notebooks: Path = NOTEBOOKS) -> str:
    """A Markdown table: each notebook's title, its measured run time in offline mode and its
    stated reading time, with the course's total run time."""
    walls = results[results["figure"] == "wall_seconds"].set_index("notebook")["value"].astype(float)
    if walls.empty:
        raise ValueError("The results table has no wall times: pass the results.csv that make run writes.")
    lines = ["| notebook | what it is about | runs in (offline, measured) | to read and try |",
             "|---|---|---|---|"]
    for name, seconds in walls.sort_index().items():
        title, reading = _opening(Path(notebooks) / f"{name}.ipynb")
        lines.append(f"| {name} | {title} | {seconds / 60:.1f} min | {reading} min |")
    lines.append(f"| all | | {walls.sum() / 60:.1f} min | |")
    return "\n".join(lines)


def rewrite(guide: Path, table: str, start: str = START, end: str = END) -> str:
    """The file's text with the table between its marker lines replaced; the file is rewritten
    (also the README's generated tables: errors.py, evidence.py)."""
    text = Path(guide).read_text()
    if start not in text or end not in text:
        raise ValueError(f"{guide} has no {start} ... {end} lines to put the table between.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    text = f"{head}{start}\n{table}\n{end}{tail}"
    Path(guide).write_text(text)
    return text


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__)
        return 2
    results, guide = Path(args[0]), Path(args[1])
    rewrite(guide, timing_table(pd.read_csv(results)))
    print(f"{guide}: timings from {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
