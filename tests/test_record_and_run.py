"""tlcourse.record and tlcourse.maintain.run: figures are printed, stored and gathered into one table."""
import nbformat
import numpy as np
import pytest

from tlcourse import results as rec
from tlcourse.maintain import run


def test_record_prints_text_and_stores_exact_values(monkeypatch):
    shown = []
    monkeypatch.setattr(rec, "display", lambda data, raw, metadata: shown.append((data, metadata)))
    rec.record(accuracy=np.float32(0.91234), top1="espresso", fit_seconds=12.34, n=np.int64(3))
    data, metadata = shown[0]
    assert data["text/plain"].splitlines() == [
        "recorded accuracy = 0.9123", "recorded top1 = espresso",
        "recorded fit_seconds = 12.3 s", "recorded n = 3"]
    figures = metadata[rec.METADATA_KEY]
    assert figures["accuracy"] == pytest.approx(0.91234) and type(figures["n"]) is int


def test_record_rejects_what_is_not_a_figure():
    with pytest.raises(TypeError, match="'curve' is a list"):
        rec.record(curve=[1, 2])


def _executed(path, figures, seconds):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("record(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "x"},
                                           metadata={rec.METADATA_KEY: figures})]
    nb.cells = [cell]
    nb.metadata["papermill"] = {"duration": seconds}
    nbformat.write(nb, path)


def test_collect_gathers_figures_and_wall_time(tmp_path):
    _executed(tmp_path / "00_a.ipynb", {"acc": 0.5}, 12.0)
    _executed(tmp_path / "01_b.ipynb", {"acc": 0.7, "top1": "espresso"}, 30.0)
    table = run.collect(tmp_path)
    assert (tmp_path / "results.csv").exists()
    wide = table.set_index(["notebook", "figure"])["value"]
    assert wide[("00_a", "wall_seconds")] == 12.0
    assert wide[("01_b", "top1")] == "espresso"
    assert len(table) == 5


def test_run_rejects_an_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="Unknown mode 'online'"):
        run.execute(tmp_path / "x.ipynb", tmp_path / "y.ipynb", mode="online")


def test_papermill_runs_a_notebook_and_collects_its_record(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('mode = "offline"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import tlcourse as tl\ntl.record(mode_seen=mode)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "00_tiny.ipynb")
    run.execute(tmp_path / "00_tiny.ipynb", tmp_path / "out" / "00_tiny.ipynb", mode="full")
    table = run.collect(tmp_path / "out").set_index("figure")["value"]
    assert table["mode_seen"] == "full"           # the parameter reached the notebook
    assert table["wall_seconds"] > 0


def test_compare_finds_figures_that_a_second_run_did_not_reproduce(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    _executed(tmp_path / "00_a.ipynb", {"acc": 0.91234, "fit_seconds": 10.0, "top1": "espresso"}, 12.0)
    _executed(tmp_path / "runs" / "00_a.ipynb", {"acc": 0.91231, "fit_seconds": 14.0, "top1": "espresso"}, 15.0)
    _executed(tmp_path / "01_b.ipynb", {"acc": 0.5, "gone": 1}, 12.0)
    _executed(tmp_path / "runs" / "01_b.ipynb", {"acc": 0.6}, 12.0)
    assert run.differences(tmp_path / "00_a.ipynb", tmp_path / "runs" / "00_a.ipynb") == []   # same printed digits
    assert run.differences(tmp_path / "01_b.ipynb", tmp_path / "runs" / "01_b.ipynb") == [
        "acc: 0.5000 committed, 0.6000 now", "gone: recorded only in the committed run"]
    notebooks = [str(tmp_path / "00_a.ipynb"), str(tmp_path / "01_b.ipynb")]
    assert run.main(["--compare", str(tmp_path / "runs"), *notebooks]) == 1
    printed = capsys.readouterr().out
    assert "00_a: reproduced" in printed and "01_b: DIFFERS" in printed
    assert run.main(["--compare", str(tmp_path / "runs"), notebooks[0]]) == 0
    with pytest.raises(FileNotFoundError, match="run the notebooks first"):
        run.compare([tmp_path / "02_missing.ipynb"], tmp_path / "runs")
