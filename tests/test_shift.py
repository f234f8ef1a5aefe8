"""tlcourse.shift: corruptions, accuracy across domains, AdaBN, CORAL, gradient reversal, DANN."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import stand_in_learner, tiny_dls
from tlcourse import shift, training


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
    with pytest.raises(ValueError, match="Unknown corruption"):
        shift.corrupt_image(image, "rain", 1)
    with pytest.raises(ValueError, match="severity"):
        shift.corrupt_image(image, "contrast", 6)
    with pytest.raises(ValueError, match="at least 32x32"):
        shift.corrupt_image(np.zeros((16, 16, 3), np.uint8), "contrast", 1)


def test_corrupt_items_writes_once_and_keeps_labels(dls, tmp_path, monkeypatch):
    from tlcourse import data
    monkeypatch.setattr(data, "CACHE", tmp_path)
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
    table = shift.domain_accuracy(learn, {"source": valid, "again": valid})
    assert list(table.index) == ["source", "again"] and table["accuracy"].nunique() == 1
    with pytest.raises(ValueError, match="never saw"):
        shift.domain_accuracy(learn, {"odd": valid.assign(label="zebra")})


def test_adabn_changes_only_batchnorm_statistics_and_restores_them(dls):
    learn = _learner(dls)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    target_dl = dls.test_dl(dls.items, with_labels=False)
    with shift.adabn(learn, target_dl):
        inside = learn.model.state_dict()
        changed = {k for k, v in inside.items() if not torch.equal(v, before[k])}
        assert changed and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)
    after = learn.model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_coral_loss_is_zero_for_identical_features_and_positive_otherwise():
    x = torch.randn(16, 5)
    assert float(shift.coral_loss(x, x.clone())) == pytest.approx(0.0, abs=1e-7)
    assert float(shift.coral_loss(x, 3 * torch.randn(16, 5))) > 0
    with pytest.raises(ValueError, match="same width"):
        shift.coral_loss(x, torch.randn(16, 4))


def test_gradient_reversal_is_identity_forward_and_minus_strength_backward():
    layer = shift.GradientReversal(strength=0.7)
    x = torch.randn(4, 3, requires_grad=True)
    y = layer(x)
    assert torch.equal(y, x)
    upstream = torch.randn(4, 3)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, -0.7 * upstream)


@pytest.mark.parametrize("method", [shift.CORAL, shift.DANN])
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
    if method is shift.DANN:
        assert len(callback.domain_accuracy) == steps
        assert 0 < callback.reversal.strength <= 1
        assert len(callback.optimizer.state) > 0      # the domain classifier was trained by its own optimizer
    learn.validate()   # validation sees source images only, as before


def test_few_shot_learner_copies_the_source_model_onto_k_target_images_per_class(dls):
    learn = _learner(dls)
    target = dls.items.drop(columns="is_valid")
    few = shift.few_shot_learner(learn, target, k=3, valid_per_class=2, size=32)
    assert (~few.dls.items["is_valid"]).sum() == 3 * 2 and few.dls.items["is_valid"].sum() == 2 * 2
    for mine, source in zip(few.model.parameters(), learn.model.parameters()):
        assert torch.equal(mine, source) and mine is not source   # a copy: the source model stays as it was
    assert any(type(t).__name__ == "Normalize" for t in few.dls.after_batch.fs)
    with pytest.raises(ValueError, match="at least 1"):
        shift.few_shot_learner(learn, target, k=0, valid_per_class=2, size=32)


def test_severity_table_has_clean_and_every_corruption_and_severity(dls, tmp_path, monkeypatch):
    from tlcourse import data, plots
    monkeypatch.setattr(data, "CACHE", tmp_path)
    learn = _learner(dls)
    items = dls.items[dls.items["is_valid"]]
    table = shift.severity_table(learn, items, corruptions=("contrast", "gaussian_noise"), severities=(1, 5))
    assert list(zip(table["corruption"], table["severity"])) == [
        ("contrast", 0), ("contrast", 1), ("contrast", 5),
        ("gaussian_noise", 0), ("gaussian_noise", 1), ("gaussian_noise", 5)]
    assert table["accuracy"].between(0, 1).all()
    fig = plots.severity_curve(table)
    assert [line.get_label() for line in fig.axes[0].lines] == ["contrast", "gaussian_noise"]
