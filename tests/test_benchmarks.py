"""The README's benchmark figures are the ones the benchmarks wrote, not typed by hand."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_precision_tables_are_the_benchmarks_results():
    precision = _load("precision")
    readme = (ROOT / "README.md").read_text()
    block = readme.split(precision.START, 1)[1].split(precision.END, 1)[0].strip()
    assert block == precision.readme_tables(), "run: .venv/bin/python benchmarks/precision.py summary"


def test_precision_summary_pairs_seeds_and_judges_within_one_point(tmp_path, monkeypatch):
    import pandas as pd
    precision = _load("precision")
    monkeypatch.setattr(precision, "RUNS", tmp_path / "runs.csv")
    monkeypatch.setattr(precision, "RESULTS", tmp_path)
    rows = []
    for seed, (fp32, auto) in enumerate([(0.70, 0.72), (0.65, 0.67), (0.80, 0.82)]):
        for precision_name, value, seconds in (("fp32", fp32, 100), ("auto", auto, 80)):
            rows += [{"notebook": "nb", "precision": precision_name, "seed": seed, "figure": "x_acc", "value": value},
                     {"notebook": "nb", "precision": precision_name, "seed": seed, "figure": "wall_seconds",
                      "value": seconds}]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    row = precision.summary().iloc[0]
    assert abs(row["mean difference"] - 0.02) < 1e-9 and row["std error"] < 1e-9
    assert row["speed-up"] == 1.25                     # medians of 100 s and 80 s
    assert not row["equivalent"]                       # two points on every seed is not "within one"
