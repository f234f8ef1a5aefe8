"""tlcourse.training: what trains while frozen (fastai vs Keras BatchNorm), train_all, the LR finder."""
import numpy as np
import pytest
import torch
from torch import nn

import tlcourse as tl
from tlcourse import training


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    from conftest import make_folder
    folder = make_folder(tmp_path_factory.mktemp("img") / "images", classes=("a", "b"), per_class=10, size=32)
    return tl.get_dls(folder, size=32, valid_per_class=2, bs=8)


def _snapshot(learn):
    state = {n: t.detach().clone() for n, t in learn.model.state_dict().items()}
    return state


def _changed(before, learn):
    return {n for n, t in learn.model.state_dict().items() if not torch.equal(before[n], t)}


def _bn_buffers(learn):
    return {f"{name}.{b}" for name, m in learn.model[0].named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) for b in ("running_mean", "running_var")}


def test_keras_style_frozen_body_changes_only_the_head(dls):
    learn = tl.create_learner(dls, "efficientnet_lite0", pretrained=True, train_bn=False)
    before = _snapshot(learn)
    training.train_head(learn, epochs=1, lr=1e-2)
    changed = _changed(before, learn)
    assert changed, "the head must learn"
    assert all(name.startswith("head.") for name in changed), sorted(n for n in changed if not n.startswith("head."))[:5]


def test_fastai_style_frozen_body_updates_batchnorm_only(dls):
    learn = tl.create_learner(dls, "efficientnet_lite0", pretrained=True, train_bn=True)
    before = _snapshot(learn)
    training.train_head(learn, epochs=1, lr=1e-2)
    changed = {n for n in _changed(before, learn) if not n.startswith("head.")}
    bn_names = {f"body.{name}.{p}" for name, m in learn.model.body.named_modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm)
                for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    assert changed and changed <= bn_names                             # body: BatchNorm and nothing else
    assert {f"body.{b}" for b in _bn_buffers(learn)} & changed            # running statistics moved


def test_keras_rule_after_unfreezing_keeps_running_statistics_while_scale_and_shift_learn(dls):
    learn = tl.create_learner(dls, "efficientnet_lite0", pretrained=True, train_bn=False)
    before = _snapshot(learn)
    training.train_all(learn, epochs=1, lr=slice(1e-4, 1e-2))
    changed = _changed(before, learn)
    buffers = {f"body.{b}" for b in _bn_buffers(learn)}
    assert not buffers & changed                                         # the statistics stay ImageNet's
    scales = {f"body.{name}.weight" for name, m in learn.model.body.named_modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    assert scales & changed                                              # ... while BatchNorm's scale learns
    assert any(n.startswith("body.") and n not in scales for n in changed)   # and so do the convolutions
    fastai = tl.create_learner(dls, "efficientnet_lite0", pretrained=True, train_bn=True)
    before = _snapshot(fastai)
    training.train_all(fastai, epochs=1, lr=slice(1e-4, 1e-2))
    assert buffers & _changed(before, fastai)                            # fastai's rule: they follow the batches


def test_epochs_for_steps_comes_closest_to_the_budget(dls):
    per_epoch = len(dls.train)
    assert training.epochs_for_steps(dls, 3 * per_epoch) == 3
    assert training.epochs_for_steps(dls, 1) == 1                       # at least one epoch
    for bad in (0, 2.5, "72"):
        with pytest.raises((TypeError, ValueError), match="steps="):
            training.epochs_for_steps(dls, bad)


def test_train_all_unfreezes_every_layer_and_applies_slice_rates(dls):
    learn = tl.create_learner(dls, "small_cnn", body=tl.create_learner(dls, "small_cnn", pretrained=False).model[0])
    result = training.train_all(learn, epochs=1, lr=slice(1e-4, 1e-2))
    assert all(p.requires_grad for p in learn.model.parameters())
    rates = [group["lr"] for group in learn.opt.hypers]
    assert rates[0] < rates[1] < rates[2]                               # smaller rates for earlier groups
    assert set(result) >= {"method", "accuracy", "seconds"}


def test_find_lr_suggests_a_rate_and_restores_the_weights(dls):
    learn = tl.create_learner(dls, "small_cnn", body=tl.create_learner(dls, "small_cnn", pretrained=False).model[0])
    before = _snapshot(learn)
    suggestions = training.find_lr(learn, num_it=12)
    assert set(suggestions) == {"valley", "minimum"}
    # "minimum" is a tenth of the rate at the lowest loss, so it can be a tenth of start_lr (1e-7)
    assert 1e-7 <= suggestions["valley"] < 10 and 1e-8 <= suggestions["minimum"] < 1
    assert not _changed(before, learn)
    assert len(learn.recorder.lrs) > 5


def test_what_a_learner_learns_depends_on_its_seed_only(dls):
    """Passes over the data before a fit (a validation, another learner's training) and the
    validations inside it change nothing: every fit and every epoch is seeded from the learner."""
    def trained(seed, skip=False, noise=False):
        if noise:
            for _ in dls.valid:   # a DataLoader pass draws from torch's generator
                pass
            torch.rand(7)
        learn = tl.create_learner(dls, "small_cnn", pretrained=False, seed=seed)
        if skip:
            learn.add_cb(training.SkipValidation())
        with learn.no_bar(), learn.no_logging():
            learn.fit(2, 1e-3)
        return torch.cat([p.detach().flatten() for p in learn.model.parameters()])
    first = trained(0)
    assert torch.equal(first, trained(0, skip=True, noise=True))
    assert not torch.equal(first, trained(1))


def test_skip_validation_leaves_one_pass_the_results(dls):
    class CountValidations(tl.training.Callback):
        count = 0

        def before_batch(self):
            CountValidations.count += not self.training
    learn = tl.create_learner(dls, "small_cnn", pretrained=False)
    learn.add_cbs([training.SkipValidation(), CountValidations()])
    result = training.train_all(learn, 3, 1e-3)
    assert CountValidations.count == len(dls.valid)   # the result's own pass, none inside fit
    loss, accuracy = learn.validate()
    assert result["accuracy"] == pytest.approx(accuracy) and result["valid_loss"] == pytest.approx(loss)


def test_epoch_table_is_the_recorders_losses_without_the_time_and_survives_the_result_row(dls):
    learn = tl.create_learner(dls, "small_cnn", pretrained=False)
    with pytest.raises(ValueError, match="fit_one_cycle"):
        training.epoch_table(learn)
    learn.fit_one_cycle(2, 1e-3)
    table = training.epoch_table(learn)
    assert list(table.columns) == ["train_loss", "valid_loss", "accuracy"] and len(table) == 2
    np.testing.assert_allclose(table.to_numpy(), [list(v) for v in learn.recorder.values])
    row = training.result_row(learn, "plain call", 1.0)            # fastai's validate() empties the recorder ...
    assert training.epoch_table(learn).equals(table)                # ... and result_row puts it back
    assert row["accuracy"] == pytest.approx(table["accuracy"].iloc[-1])


def test_an_unattended_learner_prints_nothing_while_fastai_calls_train_it(dls, capsys, monkeypatch):
    from fastai.callback.progress import ProgressCallback
    monkeypatch.setattr(training, "SHOW_PROGRESS", False)
    learn = tl.create_learner(dls, "small_cnn", pretrained=False)
    assert not any(isinstance(cb, ProgressCallback) for cb in learn.cbs)
    learn.fit_one_cycle(1, 1e-3)
    assert capsys.readouterr().out == ""                           # no per-epoch lines with their timings
    monkeypatch.setattr(training, "SHOW_PROGRESS", True)
    assert any(isinstance(cb, ProgressCallback) for cb in tl.create_learner(dls, "small_cnn", pretrained=False).cbs)
