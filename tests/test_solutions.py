"""Every notebook ends with exercises, and solutions/ holds a worked answer to each: the same
exercise cells (task, setup, check) in both, the notebook's checks unanswered, every check in
the executed solutions right. nbval then replays both kinds of notebook in `make test`."""
import re
from pathlib import Path

import nbformat
import pytest

from tlcourse import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path, tag):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def check_outputs(path):
    """The text each check cell printed: the cells that call `exercises.check_...`."""
    found = []
    for cell in cells(path, "exercise"):
        if cell.cell_type == "code" and cell.source.startswith("exercises.check_"):
            texts = [o.get("data", {}).get("text/plain", "") for o in cell.outputs if o.output_type == "execute_result"]
            found.append((cell.source, "".join(texts)))
    return found


def test_there_is_a_solution_notebook_for_each_notebook_and_no_other():
    solutions = sorted((ROOT / "solutions").glob("*.ipynb"))
    assert [p.name for p in solutions] == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_and_solution_pose_the_same_exercises(notebook):
    solution = ROOT / "solutions" / notebook.name
    ours, theirs = ([(c.cell_type, c.source) for c in cells(p, "exercise")] for p in (notebook, solution))
    assert ours == theirs, "edit the exercise in both notebooks (cells tagged 'exercise')"
    assert len(check_outputs(notebook)) >= 2
    assert len(cells(notebook, "answer")) == len(cells(solution, "answer")) == len(check_outputs(notebook))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_leaves_each_answer_to_the_learner(notebook):
    for cell in cells(notebook, "answer"):
        assert "None" in cell.source, cell.source
    for source, said in check_outputs(notebook):
        assert said.startswith("✗ Not yet. Replace None"), (source, said)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_worked_solution_passes_its_check(notebook):
    outputs = check_outputs(ROOT / "solutions" / notebook.name)
    assert outputs and all(said.startswith(("✓ Right.", "✓ As you predicted.")) for _, said in outputs), outputs


def evidence_direction(stem, measured, reference):
    """What the notebook's evidence says of measured against reference: "higher", "lower",
    "level", or None when the runs do not tell them apart."""
    from tlcourse import evidence
    table = evidence.load(stem)
    # "level" first, as the exercises define it: within 2 points, even when one is ahead by less
    for found, verdict in (("level", evidence.level(table, measured, reference)),
                           ("higher", evidence.ahead(table, measured, reference)),
                           ("lower", evidence.ahead(table, reference, measured))):
        if verdict:
            return found
    return None


@pytest.mark.parametrize("stem", sorted(exercises.PREDICTIONS))
def test_each_worked_prediction_is_what_the_evidence_shows_over_seeds(stem):
    """A "predict, then measure" exercise's worked answer agrees with the notebook's five runs,
    not only with the one run its solution shows."""
    sources = "\n".join(c.source for c in cells(ROOT / "solutions" / f"{stem}.ipynb", "answer"))
    for name, (measured, reference) in exercises.PREDICTIONS[stem].items():
        found = re.search(rf'^{name} = "(\w+)"', sources, re.M)
        assert found, f"the solution's answer cells set no {name} = \"...\""
        assert evidence_direction(stem, measured, reference) == found.group(1), (stem, name)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_come_before_what_to_try_next_which_ends_the_notebook(notebook):
    nb = nbformat.read(notebook, as_version=4)
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"]
    assert headings[-1] == "## What to try next"
    assert "## Exercises" in headings
