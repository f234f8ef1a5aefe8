"""tlcourse.features: embeddings are cached and reused, probes are scikit-learn's, bad input is caught."""
import numpy as np
import pytest
import torch

import tlcourse as tl
from tlcourse import features


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(tl.cache, "CACHE", tmp_path / "cache")
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    from conftest import make_folder
    folder = make_folder(tmp_path_factory.mktemp("img") / "images", classes=("a", "b"), per_class=8, size=32)
    return tl.split_items(tl.load_items(folder), valid_per_class=3, seed=0)


@pytest.fixture
def count_passes(monkeypatch):
    calls = []
    real = features.forward_features

    def counting(*args, **kwargs):
        calls.append(args[2])  # the layers it was asked for
        return real(*args, **kwargs)
    monkeypatch.setattr(features, "forward_features", counting)
    return calls


def test_second_call_reads_the_cache_without_a_forward_pass(cache, items, count_passes):
    first = features.extract_features(items, "toy", layers=("stage3", "head_conv"), size=32)
    assert count_passes == [["stage3", "head_conv"]]
    second = features.extract_features(items, "toy", layers=("stage3", "head_conv"), size=32)
    assert count_passes == [["stage3", "head_conv"]]            # no second pass
    for layer in first:
        np.testing.assert_array_equal(first[layer], second[layer])
    assert first["stage3"].shape == (len(items), 40) and first["head_conv"].shape == (len(items), 1280)


def test_a_learner_made_after_a_cache_miss_starts_as_after_a_hit(cache, items, count_passes):
    # Notebook 01 builds a head after extracting: with an empty cache (a learner's first run) it
    # must start from the same weights as with a full one (the committed run). Building the body
    # draws random numbers; the learner seeds itself where it is made (models.create_learner).
    dls = tl.get_dls("silhouettes", size=16, n_per_class=2, valid_per_class=2)
    heads = []
    for _ in range(2):   # computed, then read from the cache
        features.extract_features(items, "toy", layers="head_conv", size=32)
        heads.append(tl.create_learner(dls, "small_cnn", pretrained=False, seed=3).model[1][-1].weight)
    assert count_passes == [["head_conv"]] and torch.equal(*heads)


def test_only_missing_layers_are_computed(cache, items, count_passes):
    features.extract_features(items, "toy", layers="head_conv", size=32)
    features.extract_features(items, "toy", layers=("stem", "head_conv"), size=32)
    assert count_passes == [["head_conv"], ["stem"]]


def test_what_went_in_is_part_of_the_key(cache, items, count_passes):
    features.extract_features(items, "toy", size=32)
    features.extract_features(items, "toy", size=40)                   # another size
    features.extract_features(items.iloc[:-1], "toy", size=32)         # other images
    assert len(count_passes) == 3
    assert len(list((cache / "features").glob("*.npy"))) == 3


def test_a_damaged_cache_file_is_rebuilt_not_loaded(cache, items, count_passes):
    good = features.extract_features(items, "toy", size=32)["head_conv"]
    [path] = (cache / "features").glob("*.npy")
    path.write_bytes(path.read_bytes()[:200])                          # a run stopped mid-write
    with pytest.warns(UserWarning, match="unreadable"):
        again = features.extract_features(items, "toy", size=32)["head_conv"]
    assert len(count_passes) == 2
    np.testing.assert_allclose(again, good, rtol=1e-5, atol=1e-6)
    assert not list((cache / "features").glob("*.tmp*"))               # no temporary file left behind


def test_pooled_features_are_the_body_output_averaged_over_positions(cache, items):
    got = features.extract_features(items.iloc[:4], "toy", size=32)["head_conv"]
    body = features.load_body()
    x = tl.preprocess.to_tensor([tl.preprocess.read(p, 32) for p in items["path"][:4]], tl.BACKBONES["efficientnet_lite0"].stats)
    with torch.inference_mode():
        expected = body(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_layer_names_follow_the_body():
    assert features.layer_names() == ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["head_conv"]
    assert features.layer_names("small_cnn") == ["early", "late"]


def _blobs(n=60, dim=10, seed=0):
    import pandas as pd
    rng = np.random.default_rng(seed)
    labels = np.array(["x", "y"] * (n // 2))
    x = rng.normal(size=(n, dim)) + (labels == "y")[:, None] * 1.5
    items = pd.DataFrame({"path": [f"{i}.png" for i in range(n)], "label": labels, "is_valid": np.arange(n) >= 40})
    return x, items


def test_linear_probe_is_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    x, items = _blobs()
    train, valid = ~items.is_valid.to_numpy(), items.is_valid.to_numpy()
    scaler = StandardScaler().fit(x[train])
    reference = LogisticRegression(C=0.5, max_iter=5000).fit(scaler.transform(x[train]), items.label[train])
    expected = reference.predict(scaler.transform(x[valid]))
    result = features.linear_probe(x, items, C=0.5)
    np.testing.assert_array_equal(result["predictions"], expected)
    assert result["accuracy"] == pytest.approx(np.mean(expected == items.label[valid]))
    assert result["accuracy"] > 0.7                                    # separable blobs are learned


def test_knn_probe_is_scikit_learns_neighbours():
    from sklearn.neighbors import KNeighborsClassifier
    x, items = _blobs(seed=1)
    train, valid = ~items.is_valid.to_numpy(), items.is_valid.to_numpy()
    expected = KNeighborsClassifier(3, metric="cosine").fit(x[train], items.label[train]).predict(x[valid])
    np.testing.assert_array_equal(features.knn_probe(x, items, k=3)["predictions"], expected)


def test_a_cross_validated_probe_chooses_c_on_the_training_rows_alone():
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    x, items = _blobs(n=80, dim=30, seed=2)
    train = ~items.is_valid.to_numpy()
    scores = {c: cross_val_score(features.probe_estimator(c), x[train], items.label[train],
                                 cv=StratifiedKFold(5)).mean() for c in features.PROBE_CS}
    result = features.linear_probe(x, items, C="cv")
    assert result["C"] == max(scores, key=scores.get)               # the best by cross-validation (first on ties)
    refit = features.linear_probe(x, items, C=result["C"])           # then refitted on every training row
    np.testing.assert_array_equal(result["predictions"], refit["predictions"])
    # What the validation rows hold cannot change the choice: scramble their features and labels.
    scrambled = items.assign(label=np.where(items.is_valid, items.label.sample(frac=1, random_state=0).to_numpy(), items.label))
    x2 = x.copy(); x2[~train] = np.random.default_rng(3).normal(size=x2[~train].shape)
    assert features.linear_probe(x2, scrambled, C="cv")["C"] == result["C"]
    assert features.linear_probe(x, items, C=0.5)["C"] == 0.5


def test_a_probe_needs_a_positive_c_or_cv():
    x, items = _blobs()
    for bad in (0, -1.0, "auto"):
        with pytest.raises((TypeError, ValueError), match="C="):
            features.linear_probe(x, items, C=bad)


def test_layer_curve_has_a_row_per_layer_in_order_each_with_its_own_c():
    x, items = _blobs()
    table = features.layer_curve({"early": x[:, :2], "late": x}, items)
    assert list(table["layer"]) == ["early", "late"] and list(table["depth"]) == [1, 2]
    assert list(table["features"]) == [2, 10]
    assert list(table["C"]) == [features.linear_probe(f, items, C="cv")["C"] for f in (x[:, :2], x)]
    assert list(features.layer_curve({"late": x}, items, C=2.0)["C"]) == [2.0]


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_project_2d_gives_two_coordinates_per_image(method):
    x, _ = _blobs()
    assert features.project_2d(x, method).shape == (60, 2)


def test_bad_input_gets_a_clear_error(cache, items):
    x, table = _blobs()
    with pytest.raises(ValueError, match="Unknown layer.*head_conv"):
        features.extract_features(items, "toy", layers="stage9", size=32)
    with pytest.raises(ValueError, match="'path' column"):
        features.extract_features(items.drop(columns="path"), "toy")
    with pytest.raises(ValueError, match="empty"):
        features.extract_features(items.iloc[:0], "toy")
    with pytest.raises(ValueError, match="59 feature rows for 60 items"):
        features.linear_probe(x[:-1], table)
    with pytest.raises(ValueError, match="is_valid"):
        features.linear_probe(x, table.drop(columns="is_valid"))
    with pytest.raises(ValueError, match="method='umap'.*'pca', 'tsne'"):
        features.project_2d(x, "umap")
