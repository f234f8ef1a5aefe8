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


def test_top_k_figure_shows_every_photo():
    import pandas as pd
    from PIL import Image
    photos = {name: Image.new("RGB", (8, 8)) for name in ("a", "b", "c")}
    predictions = pd.DataFrame([{"photo": p, "rank": r, "class": f"c{r}", "probability": 0.1}
                                for p in photos for r in (1, 2)])
    fig = plots.top_k_predictions(photos, predictions, columns=2)
    assert sorted(ax.get_title() for ax in fig.axes if ax.images) == ["a", "b", "c"]
