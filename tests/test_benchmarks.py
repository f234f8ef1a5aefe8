"""The README's benchmark figures are the ones the benchmarks wrote, not typed by hand."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up there
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


# --------------------------------------------------------------------------- ELPV

def _elpv():
    bench = _load("elpv_deitsch")                   # elpv_summary imports it by this name
    return bench, _load("elpv_summary")


def test_readme_elpv_and_backbone_tables_are_the_benchmarks_results():
    _, summary = _elpv()
    readme = (ROOT / "README.md").read_text()
    for block, make in summary.BLOCKS.items():
        start, end = summary.markers(block)
        assert start in readme and end in readme, f"README.md lacks the {block} table"
        assert readme.split(start, 1)[1].split(end, 1)[0].strip() == make(), \
            "run: .venv/bin/python benchmarks/elpv_deitsch.py summary"


def test_the_screen_never_sees_a_test_cell_of_split_0():
    """Ingredients are chosen on cells held out of split 0's training cells, never on its test cells."""
    bench, _ = _elpv()
    split0 = bench.protocol_split(0)
    screen = bench.screen_split()
    assert set(screen["path"]) == set(split0.loc[~split0["is_valid"], "path"])
    assert 0.24 < screen["is_valid"].mean() < 0.26
    # both stratified by grade: each grade's share differs by less than a point
    shares = [items.loc[items["is_valid"], "grade"].value_counts(normalize=True) for items in (split0, screen)]
    assert (shares[0] - shares[1]).abs().max() < 0.01


def test_dihedral_tta_averages_the_eight_views_of_each_cell():
    import torch
    bench, _ = _elpv()
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.stack([x.mean((1, 2, 3)), x[:, 0, 0, 0]], 1)   # a corner pixel: not symmetric

    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)

    class Learn:
        model = Spy()
        dls = type("D", (), {"valid": [(x, torch.zeros(2))]})()

    plain = bench.dihedral_predict(Learn, tta=False)
    assert len(seen) == 1
    seen.clear()
    tta = bench.dihedral_predict(Learn, tta=True)
    assert len(seen) == 8
    views = {tuple(v[0, 0].flatten().tolist()) for v in seen}
    assert len(views) == 8                                   # eight different views of the same cell
    assert {v[0, 0, 0, 0].item() for v in seen} == {x[0, 0, i, j].item() for i in (0, 3) for j in (0, 3)}
    assert tta.shape == plain.shape == (2, 2)


def test_dihedral_tta_draws_each_batch_outside_autocast(monkeypatch):
    """The screen runs saved before this rule read warped cells (see test_precision)."""
    import torch
    from tlcourse import runtime
    bench, _ = _elpv()
    monkeypatch.setattr(runtime, "_precision", "bf16")
    drawn, computed = [], []

    class Valid:
        def __iter__(self):
            for _ in range(2):
                drawn.append(torch.is_autocast_enabled("cpu"))
                yield torch.rand(2, 3, 4, 4), torch.zeros(2)

    class Model(torch.nn.Module):
        def forward(self, x):
            computed.append(torch.is_autocast_enabled("cpu"))
            return torch.stack([x.mean((1, 2, 3)), x[:, 0, 0, 0]], 1)

    class Learn:
        model = Model()
        dls = type("D", (), {"valid": Valid()})()

    bench.dihedral_predict(Learn, tta=True)
    assert drawn == [False, False] and computed and all(computed)


def test_the_svm_on_frozen_features_trains_on_the_training_cells_and_scores_the_held_out(monkeypatch):
    """The feature-based configuration's plumbing, with stand-in features (one column carries
    the label, the others noise) instead of the four backbones' real ones."""
    import numpy as np
    bench, _ = _elpv()
    items = bench.screen_split()
    items = items.groupby(["is_valid", "label"]).head(12).reset_index(drop=True)     # 48 cells, quick
    every = bench.tl.load_items("elpv")
    signal = (every["label"] == "defective").to_numpy(float)
    noise = np.random.default_rng(0).normal(size=(len(every), 3))
    monkeypatch.setattr(bench, "cell_features", lambda backbone, size, paths, tta: (np.c_[signal, noise], 0.01))
    config = bench.CONFIGS["SVM on features"]
    run = bench.svm_predict(items, config, seed=0)
    held = items[items["is_valid"]]
    assert len(run["plain_probabilities"]) == len(run["tta_probabilities"]) == len(held) == 24
    assert bench.scores(bench.defect_probability(run["plain_probabilities"], run["vocab"]), held)["accuracy"] == 1.0
    assert run["plain_chosen_C"] in (1, 3, 10, 30)
    # each cell's extraction, for every backbone, counts in the time: 24 training cells x 4 x 0.01 s at least
    assert run["fit_seconds"] >= 24 * len(config.features) * 0.01


def test_the_svm_on_grades_learns_the_four_grades_and_calls_the_upper_two_defective(monkeypatch):
    """With `target="grades"` the SVM learns the four grades (stand-in features: one column carries
    the grade); P(defective) is P(2/3) + P(1), and the four-grade accuracy is scored."""
    import numpy as np
    bench, _ = _elpv()
    items = bench.screen_split()
    items = items.groupby(["is_valid", "grade"]).head(8).reset_index(drop=True)     # 64 cells, quick
    grades = bench.tl.load_items("elpv", target="probability")["label"]
    signal = grades.map({"0": 0, "1/3": 1, "2/3": 2, "1": 3}).to_numpy(float)
    noise = np.random.default_rng(0).normal(size=(len(grades), 3))
    # the grade in six columns, so that it outweighs the noise with only 8 training cells a grade
    features = np.c_[np.tile(signal, (6, 1)).T, noise]
    monkeypatch.setattr(bench, "cell_features", lambda backbone, size, paths, tta: (features, 0.01))
    config = bench.CONFIGS["SVM on grades"]
    run = bench.svm_predict(items, config, seed=0)
    held = items[items["is_valid"]]
    assert sorted(run["vocab"]) == sorted(["0", "1/3", "2/3", "1"])
    assert np.asarray(run["tta_probabilities"]).shape == (len(held), 4)
    scored = bench.score_run(run, held)
    assert scored["plain"]["grade_accuracy"] == 1.0 and scored["plain"]["accuracy"] == 1.0


def test_a_fine_tuning_run_keeps_its_epochs_and_weights_and_agrees_with_fastai(tmp_path, monkeypatch, capsys):
    """A real (tiny) run under bfloat16 with the cell augmentations: the per-epoch table holds the
    training's epochs (fastai's get_preds would start the Recorder afresh), the weights are kept,
    our plain pass equals fastai's `get_preds` (it did not while batches were drawn inside autocast),
    and the log has one line per epoch of fine_tune's two fits, none from scoring."""
    import numpy as np
    import tlcourse as tl
    from conftest import make_folder
    from tlcourse import cache, runtime
    bench, _ = _elpv()
    monkeypatch.setattr(runtime, "_precision", "bf16")
    monkeypatch.setattr(cache, "CACHE", tmp_path / "cache")
    folder = make_folder(tmp_path / "cells", classes=("defective", "functional"), per_class=10, size=32)
    items = tl.split_items(tl.load_items(folder), valid_per_class=4, seed=0)
    config = bench.Config(size=32, epochs=2, bs=8)
    run = bench.train_and_predict(items, config, seed=0, validate=True, where="test", name="tiny, seed 0")
    # the Recorder keeps the last fit: fine_tune's unfrozen epochs
    assert len(run["epochs"]["accuracy"]) == config.epochs and not np.isnan(run["epochs"]["accuracy"]).any()
    assert run["gap_to_fastai"] <= 1e-3
    assert Path(run["weights"]).exists() and Path(run["weights"]).is_relative_to(tmp_path)
    assert len(run["plain_probabilities"]) == len(run["tta_probabilities"]) == 8
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("epoch")]
    assert len(lines) == config.freeze_epochs + config.epochs
