"""tlcourse.evidence: `make evidence` on a tiny notebook (runs, files, resuming, staleness)."""
import json
import os

import nbformat
import pandas as pd
from nbformat.v4 import new_code_cell, new_notebook

from tlcourse import evidence
from tlcourse.maintain import evidence as making


def tiny_notebook(path, scale=2):
    nb = new_notebook(cells=[
        new_code_cell(f"seed = 0\nscale = {scale}", metadata={"tags": ["parameters"]}),
        new_code_cell("from tlcourse.results import record\nrecord(value=seed * scale, name=f'seed {seed}')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_evidence_runs_each_seed_keeps_the_default_in_place_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evidence, "EVIDENCE", tmp_path / "evidence")
    for name in ("TLCOURSE_PROGRESS", "TLCOURSE_THREADS"):    # run.execute sets them; put them back afterwards
        monkeypatch.setenv(name, os.environ.get(name, ""))
    notebook = tiny_notebook(tmp_path / "tiny.ipynb")
    table = making.make(notebook, n=2, out=tmp_path / "runs")

    assert list(table["seed"]) == ["0", "1"] and list(table["value"]) == [0, 2]   # run 0: the default seed
    assert list(table["name"]) == ["seed 0", "seed 1"]
    made = json.loads((tmp_path / "evidence" / "tiny.json").read_text())
    assert made["parameters"] == {"seed": "0", "scale": "2"}
    assert [run["injected"] for run in made["runs"]] == [{}, {"seed": 1}]
    assert making.recorded(notebook) == {"value": 0, "name": "seed 0"}      # the committed notebook is run 0
    assert (tmp_path / "runs" / "tiny" / "run1.ipynb").exists()
    assert making.stale(notebook) == []

    capsys.readouterr()
    making.make(notebook, n=2, out=tmp_path / "runs")                         # a second call keeps run 1
    assert "kept from" in capsys.readouterr().out

    tiny_notebook(notebook, scale=3)                                           # the parameters cell changed
    problems = "\n".join(making.stale(notebook))
    assert "parameter scale is 3 in the notebook, the evidence was made with 2" in problems


def test_seed_sets_are_disjoint_for_notebooks_that_average_seeds():
    sets = making.seed_sets({"seeds": [0, 1, 2]}, 5)
    seeds = [0, 1, 2] + [s for injected in sets[1:] for s in injected["seeds"]]
    assert sets[0] == {} and len(seeds) == len(set(seeds)) == 15
    assert making.seed_sets({"seed": 0}, 3) == [{}, {"seed": 1}, {"seed": 2}]


def test_runs_sets_this_run_beside_the_others_unless_a_parameter_changed(tmp_path, monkeypatch):
    from tlcourse import results
    monkeypatch.setattr(evidence, "EVIDENCE", tmp_path)
    pd.DataFrame({"run": [0, 1], "seed": ["0", "1"], "figure": ["acc", "acc"], "value": [0.5, 0.7]}) \
        .to_csv(tmp_path / "00_concepts.csv", index=False)
    (tmp_path / "00_concepts.json").write_text(json.dumps({"parameters": {"seed": "0", "sizes": "[10]"}}))
    monkeypatch.setattr(results, "RECORDED", {"acc": 0.6})
    monkeypatch.setattr(evidence, "RECORDED", results.RECORDED)
    runs = evidence.runs("00_concepts", {"seed": 0, "sizes": [10]})
    assert list(runs["acc"]) == [0.6, 0.7]                   # this run replaces the evidence's seed 0
    assert list(evidence.runs("00_concepts", {"seed": 0, "sizes": [10, 30]})["acc"]) == [0.6]
