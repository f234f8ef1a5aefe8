"""tlcourse.maintain.guide: the instructor guide's timings come from a results table, not from a keyboard."""
from pathlib import Path

import pandas as pd
import pytest

from tlcourse.maintain import guide

DOCS = Path(__file__).parents[1] / "docs"


def test_the_committed_guide_shows_the_committed_timings():
    # make guide writes both; a hand edit of either breaks this
    table = guide.timing_table(pd.read_csv(DOCS / "timings.csv"))
    text = (DOCS / "instructor_guide.md").read_text()
    assert f"{guide.START}\n{table}\n{guide.END}" in text


def test_every_notebook_is_in_the_timings():
    timed = set(pd.read_csv(DOCS / "timings.csv").query("figure == 'wall_seconds'")["notebook"])
    assert timed == {path.stem for path in guide.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}


def test_the_table_reads_titles_reading_times_and_wall_times(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# 07 · Something new\n\n**Time:** about 2 minutes to run; 15–25 minutes to read and try.")])
    nbformat.write(nb, tmp_path / "07_new.ipynb")
    results = pd.DataFrame([{"notebook": "07_new", "figure": "wall_seconds", "value": "90.0"},
                            {"notebook": "07_new", "figure": "acc", "value": "0.5"}])
    table = guide.timing_table(results, tmp_path).splitlines()
    assert table[2] == "| 07_new | Something new | 1.5 min | 15–25 min |"
    assert table[-1] == "| all | | 1.5 min | |"


def test_rewrite_replaces_only_the_table(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(f"intro\n{guide.START}\nold\n{guide.END}\nrest\n")
    assert guide.rewrite(path, "new") == f"intro\n{guide.START}\nnew\n{guide.END}\nrest\n"
    path.write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- timings:start -->"):
        guide.rewrite(path, "new")


def test_a_notebook_that_does_not_say_its_reading_time_is_named(tmp_path):
    import nbformat
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 08 · Quiet")]),
                   tmp_path / "08_quiet.ipynb")
    results = pd.DataFrame([{"notebook": "08_quiet", "figure": "wall_seconds", "value": "60"}])
    with pytest.raises(ValueError, match="08_quiet.ipynb does not say"):
        guide.timing_table(results, tmp_path)
    with pytest.raises(ValueError, match="no wall times"):
        guide.timing_table(results.assign(figure="acc"), tmp_path)
