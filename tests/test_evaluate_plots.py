"""tlcourse.evaluate and tlcourse.plots: tables have the promised shape; figures draw them."""
import matplotlib
import pytest

matplotlib.use("Agg")

from tlcourse import evaluate, plots  # noqa: E402

ROWS = [{"method": m, "n_per_class": n, "accuracy": a}
        for m, n, a in [("transfer", 10, 0.7), ("from scratch", 10, 0.5),
                        ("transfer", 30, 0.85), ("from scratch", 30, 0.8)]]


def test_data_efficiency_table_has_a_row_per_size_and_the_gain():
    table = evaluate.data_efficiency_table(ROWS)
    assert list(table.index) == [10, 30]
    assert list(table.columns) == ["transfer", "from scratch", "gain of transfer"]
    assert table.loc[10, "gain of transfer"] == pytest.approx(0.2)


def test_empty_results_get_a_clear_error():
    with pytest.raises(ValueError, match="No results"):
        evaluate.data_efficiency_table([])


def test_data_efficiency_curve_draws_one_line_per_method():
    fig = plots.data_efficiency_curve(evaluate.data_efficiency_table(ROWS))
    assert [line.get_label() for line in fig.axes[0].lines] == ["transfer", "from scratch"]


def test_a_method_measured_at_some_sizes_only_is_drawn_where_measured():
    rows = ROWS + [{"method": "fine-tuned", "n_per_class": 10, "accuracy": 0.9}]
    fig = plots.data_efficiency_curve(evaluate.data_efficiency_table(rows), unit="tweets")
    fine_tuned = [line for line in fig.axes[0].lines if line.get_label() == "fine-tuned"][0]
    assert list(fine_tuned.get_xdata()) == [10]
    assert "tweets per class" in fig.axes[0].get_xlabel()


def test_top_k_figure_shows_every_photo():
    import pandas as pd
    from PIL import Image
    photos = {name: Image.new("RGB", (8, 8)) for name in ("a", "b", "c")}
    predictions = pd.DataFrame([{"photo": p, "rank": r, "class": f"c{r}", "probability": 0.1}
                                for p in photos for r in (1, 2)])
    fig = plots.top_k_predictions(photos, predictions, columns=2)
    assert sorted(ax.get_title() for ax in fig.axes if ax.images) == ["a", "b", "c"]


RESULTS = [{"method": "from scratch", "accuracy": 0.61234, "seconds": 63.2},
           {"method": "feature extraction", "accuracy": 0.8, "seconds": 0.4},
           {"method": "fine-tuning", "accuracy": 0.9, "seconds": 120.04}]


def test_comparison_table_has_the_promised_rows_in_order():
    table = evaluate.comparison_table(RESULTS)
    assert list(table.index) == ["from scratch", "feature extraction", "fine-tuning"]
    assert list(table.columns) == ["accuracy", "wall time"]
    assert table.loc["from scratch", "accuracy"] == 0.612
    assert table.loc["fine-tuning", "wall time"] == "120.0 s"


def _predictions():
    import pandas as pd
    return pd.DataFrame({"path": ["p"] * 5, "label": ["ok", "ok", "bad", "bad", "bad"],
                         "predicted": ["ok", "bad", "bad", "ok", "ok"],
                         "probability": [0.9, 0.6, 0.8, 0.7, 0.55], "loss": [0.1, 0.9, 0.2, 1.2, 0.8]})


def test_confusion_table_counts_true_against_predicted():
    table = evaluate.confusion_table(_predictions())
    assert table.loc["bad", "ok"] == 2 and table.loc["ok", "bad"] == 1
    assert table.to_numpy().sum() == 5
    assert evaluate.accuracy_of(_predictions()) == pytest.approx(0.4)


def test_validation_predictions_cover_the_validation_set(tmp_path):
    import tlcourse as tl
    from conftest import make_folder
    dls = tl.get_dls(make_folder(tmp_path / "img", per_class=6, size=16), size=16, valid_per_class=2, bs=4)
    learn = tl.create_learner(dls, "small_cnn", pretrained=False)
    predictions = evaluate.validation_predictions(learn)
    assert len(predictions) == 4 and set(predictions["label"]) == {"cat", "dog"}
    with learn.no_bar():
        loss, accuracy = learn.validate()
    assert evaluate.accuracy_of(predictions) == pytest.approx(float(accuracy))
    assert predictions["loss"].mean() == pytest.approx(float(loss), rel=1e-4)


def test_new_figures_draw_what_they_are_given(tmp_path):
    import numpy as np
    import pandas as pd
    from PIL import Image
    curve = pd.DataFrame({"depth": [1, 2, 3], "layer": ["a", "b", "c"], "features": [8, 16, 32],
                          "accuracy": [0.6, 0.8, 0.7]})
    fig = plots.layer_curve(curve)
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.6, 0.8, 0.7]

    xy = np.zeros((5, 2))
    fig = plots.embedding_scatter({"PCA": xy, "t-SNE": xy}, ["ok", "ok", "bad", "bad", "bad"])
    assert [ax.get_title() for ax in fig.axes] == ["PCA", "t-SNE"]
    assert len(fig.axes[0].collections) == 2                        # one point cloud per class

    fig = plots.confusion_matrix(evaluate.confusion_table(_predictions()))
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["1", "1", "1", "2"]

    Image.new("L", (8, 8)).save(tmp_path / "p.png")
    predictions = _predictions().assign(path=str(tmp_path / "p.png"))
    fig = plots.top_losses(predictions, k=3, columns=3)
    assert fig.axes[0].get_title().startswith("ok / bad")          # the highest loss comes first

    class Recorder:
        lrs = list(np.logspace(-5, 0, 20))
        losses = list(np.linspace(1, 0.5, 20))
    fig = plots.lr_find(Recorder(), {"valley": 1e-4, "minimum": 3e-3}, chosen=2e-3)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "valley: 1.0e-04", "minimum: 3.0e-03", "chosen: 2.0e-03"]
    fig = plots.lr_find({"head only": Recorder(), "all layers": Recorder()})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["head only", "all layers"]

    rates = np.outer(np.linspace(1, 2, 6), [1e-4, 1e-3, 1e-2])
    fig = plots.group_rates(rates, ["early", "late", "head"])
    assert [line.get_ydata()[0] for line in fig.axes[0].lines] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert fig.axes[0].get_yscale() == "log"

    curve = pd.DataFrame({"near": [0.4, 0.7, 0.6], "far": [0.5, 0.65, 0.55]}, index=[1, 10, 100])
    fig = plots.rate_sweep(curve, marks={"near": {"slice": (10, 0.72)}})
    lines = fig.axes[0].lines
    assert [list(line.get_ydata()) for line in lines] == [[0.4, 0.7, 0.6], [0.72], [0.5, 0.65, 0.55]]
    assert fig.axes[0].get_xscale() == "log" and [t.get_text() for t in fig.axes[0].texts] == ["slice"]

    fig = plots.body_distance({"one rate": [1, 2, 3], "L2-SP": [1, 1.5, 1.6]})
    assert [list(line.get_ydata()) for line in fig.axes[0].lines] == [[1, 2, 3], [1, 1.5, 1.6]]


def test_seed_table_gives_each_seed_mean_and_std_in_the_given_order():
    rows = [{"method": m, "seed": s, "accuracy": a, "seconds": 2.0 + s}
            for s, accs in enumerate([(0.5, 0.7), (0.6, 0.9)]) for m, a in zip(("b", "a"), accs)]
    table = evaluate.seed_table(rows)
    assert list(table.index) == ["b", "a"]
    assert list(table.columns) == ["seed 0", "seed 1", "mean", "std", "wall time (mean)"]
    assert table.loc["a", "mean"] == pytest.approx(0.8) and table.loc["a", "std"] == pytest.approx(0.141, abs=1e-3)
    assert table.loc["b", "wall time (mean)"] == "2.5 s"
    with pytest.raises(ValueError, match="No results"):
        evaluate.seed_table([])
