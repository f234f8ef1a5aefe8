"""tlcourse.shift: corruptions, accuracy across domains, AdaBN, CORAL, gradient reversal, DANN."""
import functools
import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import stand_in_learner, tiny_dls
import tlcourse as tl
from tlcourse import adapt, data, evaluate, models, shift, training


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    return tiny_dls(tmp_path_factory.mktemp("img"), size=32)


def _learner(dls):
    return stand_in_learner(dls)


@pytest.mark.parametrize("corruption", ["gaussian_noise", "pixelate", "jpeg_compression", "fog"])
def test_corrupted_images_keep_shape_and_dtype(corruption):
    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 255, (40, 36, 3), dtype=np.uint8), rng.integers(0, 255, (32, 32), dtype=np.uint8)):
        corrupted = shift.corrupt_image(image, corruption, severity=3)
        assert corrupted.shape == image.shape and corrupted.dtype == np.uint8
        assert not np.array_equal(corrupted, image)


def test_corruption_errors_are_clear():
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="corruption='rain'.*must be one of 'gaussian_noise'"):
        shift.corrupt_image(image, "rain", 1)
    with pytest.raises(ValueError, match="severity"):
        shift.corrupt_image(image, "contrast", 6)
    with pytest.raises(ValueError, match="at least 32x32"):
        shift.corrupt_image(np.zeros((16, 16, 3), np.uint8), "contrast", 1)


def test_corrupt_items_writes_once_and_keeps_labels(dls, tmp_path, monkeypatch):
    monkeypatch.setattr(tl.cache, "CACHE", tmp_path)
    items = dls.items.head(6)
    first = shift.corrupt_items(items, "gaussian_noise", 2, size=32)
    assert list(first["label"]) == list(items["label"]) and str(tmp_path) in first["path"][0]
    stamp = {p: os.stat(p).st_mtime_ns for p in first["path"]}
    again = shift.corrupt_items(items, "gaussian_noise", 2, size=32)
    assert list(again["path"]) == list(first["path"])
    assert all(os.stat(p).st_mtime_ns == t for p, t in stamp.items())   # read, not rewritten
    heavier = shift.corrupt_items(items, "gaussian_noise", 5, size=32)
    assert np.asarray(Image.open(heavier["path"][0])).std() != np.asarray(Image.open(first["path"][0])).std()


def test_domain_accuracy_measures_each_domain_and_rejects_new_labels(dls):
    learn = _learner(dls)
    valid = dls.items[dls.items["is_valid"]]
    table = evaluate.domain_accuracy(learn, {"source": valid, "again": valid})
    assert list(table.index) == ["source", "again"] and table["accuracy"].nunique() == 1
    with pytest.raises(ValueError, match="never saw"):
        evaluate.domain_accuracy(learn, {"odd": valid.assign(label="zebra")})


def test_adabn_changes_only_batchnorm_statistics_and_restores_them(dls):
    learn = _learner(dls)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    target_dl = dls.test_dl(dls.items, with_labels=False)
    with adapt.adabn(learn, target_dl):
        inside = learn.model.state_dict()
        changed = {k for k, v in inside.items() if not torch.equal(v, before[k])}
        assert changed and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)
    after = learn.model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_coral_loss_is_zero_for_identical_features_and_positive_otherwise():
    x = torch.randn(16, 5)
    assert float(adapt.coral_loss(x, x.clone())) == pytest.approx(0.0, abs=1e-7)
    assert float(adapt.coral_loss(x, 3 * torch.randn(16, 5))) > 0
    with pytest.raises(ValueError, match="same width"):
        adapt.coral_loss(x, torch.randn(16, 4))


def test_gradient_reversal_is_identity_forward_and_minus_strength_backward():
    layer = adapt.GradientReversal(strength=0.7)
    x = torch.randn(4, 3, requires_grad=True)
    y = layer(x)
    assert torch.equal(y, x)
    upstream = torch.randn(4, 3)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, -0.7 * upstream)


@pytest.mark.parametrize("method", [adapt.CORAL, adapt.DANN])
def test_alignment_callbacks_train_on_source_labels_and_target_images(dls, method):
    learn = _learner(dls)
    learn.unfreeze()
    target_dl = shift.target_batches(dls, dls.items)
    callback = method(target_dl, weight=1.0)
    with learn.no_bar(), learn.no_logging():
        training.set_seed(0, reproducible=True)
        learn.fit(2, 1e-3, cbs=callback)
    steps = len(learn.recorder.losses)
    assert len(callback.losses) == steps and all(np.isfinite(callback.losses))
    if method is adapt.DANN:
        assert len(callback.domain_accuracy) == steps
        assert 0 < callback.reversal.strength <= 1
        assert len(callback.optimizer.state) > 0      # the domain classifier was trained by its own optimizer
    learn.validate()   # validation sees source images only, as before


def test_few_shot_learner_copies_the_source_model_onto_k_target_images_per_class(dls):
    learn = _learner(dls)
    target = dls.items.drop(columns="is_valid")
    few = adapt.few_shot_learner(learn, target, k=3, valid_per_class=2, size=32)
    assert (~few.dls.items["is_valid"]).sum() == 3 * 2 and few.dls.items["is_valid"].sum() == 2 * 2
    for mine, source in zip(few.model.parameters(), learn.model.parameters()):
        assert torch.equal(mine, source) and mine is not source   # a copy: the source model stays as it was
    assert any(type(t).__name__ == "Normalize" for t in few.dls.after_batch.fs)
    with pytest.raises(ValueError, match="at least 1"):
        adapt.few_shot_learner(learn, target, k=0, valid_per_class=2, size=32)


def test_severity_table_has_clean_and_every_corruption_and_severity(dls, tmp_path, monkeypatch):
    from tlcourse import plots
    monkeypatch.setattr(tl.cache, "CACHE", tmp_path)
    learn = _learner(dls)
    items = dls.items[dls.items["is_valid"]]
    table = shift.severity_table(learn, items, corruptions=("contrast", "gaussian_noise"), severities=(1, 5),
                                 adapt=True)
    expected = [("contrast", 0), ("contrast", 1), ("contrast", 5),
                ("gaussian_noise", 0), ("gaussian_noise", 1), ("gaussian_noise", 5)]
    for method in ("AdaBN", "source only"):
        rows = table[table["method"] == method]
        assert list(zip(rows["corruption"], rows["severity"])) == expected
    assert table["accuracy"].between(0, 1).all()
    fig = plots.severity_curve(table)
    assert [line.get_label() for line in fig.axes[0].lines] == [
        "contrast (source only)", "gaussian_noise (source only)", "contrast (AdaBN)", "gaussian_noise (AdaBN)"]
    assert [line.get_linestyle() for line in fig.axes[0].lines] == ["-", "-", "--", "--"]
    # AdaBN inside the table leaves the model's own statistics as they were
    before = [bn.running_mean.clone() for bn in adapt._batchnorms(learn.model)]
    shift.severity_table(learn, items, corruptions=("contrast",), severities=(3,), adapt=True)
    assert all(torch.equal(a, bn.running_mean) for a, bn in zip(before, adapt._batchnorms(learn.model)))


# --------------------------------------------------------------------------- cached features

def _feature_items(n=40, width=6, shift_by=0.0, seed=0):
    """Two classes of Gaussian embeddings (class b offset on the first axis), half held out."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b"] * (n // 2))
    x = rng.normal(size=(n, width)) + shift_by
    x[labels == "b", 0] += 6.0
    items = pd.DataFrame({"path": [f"x{i}" for i in range(n)], "label": labels, "is_valid": np.arange(n) >= n // 2})
    return x.astype(np.float32), items


def test_feature_learner_trains_a_head_on_embeddings_and_is_scored_per_domain():
    x, items = _feature_items()
    learn = models.feature_learner(x, items, hidden=8, bs=8, seed=0)
    assert isinstance(learn.model, models.FeatureHead) and learn.dls.vocab == ["a", "b"]
    training.train_from_scratch(learn, 20, 3e-2, seed=0)
    valid = items["is_valid"].to_numpy()
    table = evaluate.domain_accuracy(learn, {"here": data.feature_batches(x[valid], items[valid], ["a", "b"])})
    assert table.loc["here", "images"] == valid.sum() and table.loc["here", "accuracy"] > 0.8
    row = evaluate.adaptation_row(learn, "m", 0, {"target": data.feature_batches(x[valid], items[valid], ["a", "b"])}, 1.0)
    assert row["accuracy"] == row["target accuracy"] == table.loc["here", "accuracy"]
    copy = models.feature_learner(x, items, vocab=["a", "b"], model=learn.model)
    assert copy.model is not learn.model and all(torch.equal(a, b) for a, b in
                                                  zip(copy.model.parameters(), learn.model.parameters()))


def test_feature_batches_errors_are_clear():
    x, items = _feature_items()
    with pytest.raises(ValueError, match="match row for row"):
        data.feature_batches(x[:3], items, ["a", "b"])
    with pytest.raises(ValueError, match="not among the classes"):
        data.feature_batches(x, items, ["a", "c"])
    with pytest.raises(ValueError, match="at least one row"):
        data.feature_batches(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="is_valid"):
        models.feature_learner(x, items.drop(columns="is_valid"))
    with pytest.raises(ValueError, match="layer='logits'.*'features', 'outputs'"):
        adapt.CORAL([], 1.0, layer="logits")


def test_alignment_and_adabn_work_on_a_feature_head():
    x, items = _feature_items()
    target_x, _ = _feature_items(shift_by=2.0, seed=1)
    for method in (adapt.CORAL, functools.partial(adapt.CORAL, layer="outputs"), adapt.DANN):
        learn = models.feature_learner(x, items, hidden=8, bs=8)
        callback = method(data.feature_batches(target_x, bs=8, shuffle=True), weight=1.0)
        learn.add_cb(callback)
        training.train_from_scratch(learn, 2, 1e-2)
        assert len(callback.losses) == 2 * len(learn.dls.train) and np.isfinite(callback.losses).all()
    head = learn.model.body[0]
    mean = head.running_mean.clone()
    with adapt.adabn(learn, data.feature_batches(target_x, bs=8)):
        assert torch.allclose(head.running_mean, torch.as_tensor(target_x).mean(0), atol=1e-5)
    assert torch.equal(head.running_mean, mean)


def test_domain_separability_is_high_for_apart_domains_and_near_chance_for_alike_ones():
    rng = np.random.default_rng(0)
    alike = rng.normal(size=(400, 5))
    apart = np.concatenate([rng.normal(size=(200, 5)), rng.normal(size=(200, 5)) + 4])
    domains = np.array(["s"] * 200 + ["t"] * 200)
    assert shift.domain_separability(apart, domains) > 0.95
    assert shift.domain_separability(alike, domains) < 0.62
    with pytest.raises(ValueError, match="two domains"):
        shift.domain_separability(alike, np.array(["s"] * 400))


def test_domain_features_are_the_input_of_the_last_linear_layer(dls):
    learn = _learner(dls)
    items = dls.items[dls.items["is_valid"]]
    feats, names = shift.domain_features(learn, {"one": items, "two": items})
    width = learn.model.get_classifier().in_features
    assert feats.shape == (2 * len(items), width) and list(names) == ["one"] * len(items) + ["two"] * len(items)
    np.testing.assert_allclose(feats[: len(items)], feats[len(items):], rtol=1e-5)


def test_adaptation_runs_score_every_method_on_the_same_images_and_add_a_target_only_row():
    x, items = _feature_items()
    target_x, target_items = _feature_items(shift_by=2.0, seed=1)
    valid, t_valid = items["is_valid"].to_numpy(), target_items["is_valid"].to_numpy()
    domains = {"source": data.feature_batches(x[valid], items[valid], ["a", "b"]),
               "target": data.feature_batches(target_x[t_valid], target_items[t_valid], ["a", "b"])}
    made = []

    def labelled(k):   # k labelled target rows per class, then the held-out target rows
        few = target_items[~t_valid].groupby("label").head(k)
        index = np.r_[few.index, np.flatnonzero(t_valid)]
        return target_x[index], pd.concat([few, target_items[t_valid]])

    def target_only(k):
        made.append(k)
        return models.feature_learner(*labelled(k), hidden=8, bs=2 * k, seed=0)

    def few_shot(base, k):
        return models.feature_learner(*labelled(k), model=base.model, hidden=8, bs=2 * k, seed=0)

    train = lambda learn: training.train_all(learn, 2, 1e-2, seed=0)
    rows, learners = shift.adaptation_runs(
        0, domains, unlabelled=lambda: data.feature_batches(target_x[~t_valid], bs=8, shuffle=True),
        source_learner=lambda: models.feature_learner(x, items, hidden=8, bs=8, seed=0), train=train,
        few_shot=few_shot, train_few_shot=train, ceiling=lambda: models.feature_learner(target_x, target_items, hidden=8, bs=8, seed=0),
        coral_weight=1.0, dann_weight=1.0, shots=(1, 2), target_only=target_only)
    methods = [r["method"] for r in rows]
    assert methods == ["source only", "AdaBN", "CORAL", "DANN", "few-shot, k=1", "few-shot, k=2",
                       "target only, k=2", "target-trained (ceiling)"]
    assert made == [2]                      # only the largest k gets a target-only run
    assert all(0 <= r["accuracy"] <= 1 and r["accuracy"] == r["target accuracy"] for r in rows)
    # the target-only learner never saw the source model: its weights are its own
    assert learners["target only, k=2"].model is not learners["source only"].model
