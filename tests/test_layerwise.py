"""tlcourse.layerwise: rates per group, one-cycle against fastai's recorder, gradual unfreezing, L2-SP."""
import numpy as np
import pytest
import torch

import tlcourse as tl
from conftest import stand_in_learner, tiny_dls
from tlcourse import layerwise


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    return tiny_dls(tmp_path_factory.mktemp("img"), size=16)


def _learner(dls):
    return stand_in_learner(dls)


def test_discriminative_rates_are_geometric_between_lo_and_hi():
    rates = layerwise.discriminative_lrs(1e-5, 1e-3, 3)
    assert rates[0] == pytest.approx(1e-5) and rates[-1] == pytest.approx(1e-3)
    assert rates[1] / rates[0] == pytest.approx(rates[2] / rates[1])
    with pytest.raises(ValueError, match="lo <= hi"):
        layerwise.discriminative_lrs(1e-3, 1e-5, 3)


def test_the_optimizer_holds_geometric_rates_for_a_slice(dls):
    learn = _learner(dls)
    learn.unfreeze()
    learn.create_opt()
    learn.opt.set_hyper("lr", slice(1e-5, 1e-3))   # what fit_one_cycle does with a slice
    table = layerwise.group_table(learn, ["early", "late", "head"])
    np.testing.assert_allclose(table["lr"], layerwise.discriminative_lrs(1e-5, 1e-3, 3))
    assert table["trains"].all() and (table["parameters"] > 0).all()
    assert list(table["layers"]) == ["early", "late", "head"]   # where the splitter cuts


def test_our_one_cycle_rates_equal_what_fastai_recorded(dls):
    learn = _learner(dls)
    learn.unfreeze()
    rates = layerwise.GroupRates()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(2, slice(1e-4, 1e-2), cbs=rates)
    steps = len(learn.recorder.lrs)
    np.testing.assert_allclose(learn.recorder.lrs, layerwise.one_cycle_rates(1e-2, steps), rtol=1e-6)
    first = np.array(rates.rates)[:, 0]
    np.testing.assert_allclose(first, layerwise.one_cycle_rates(1e-4, steps), rtol=1e-6)


def test_gradual_unfreezing_adds_exactly_one_group_per_stage(dls):
    learn = _learner(dls)
    rows = layerwise.gradual_unfreeze(learn, epochs_per_stage=1, lr=1e-3)
    assert [r["trainable_groups"] for r in rows] == [1, 2, 3]
    assert all(p.requires_grad for p in learn.model.parameters())


def test_l2sp_penalty_is_zero_at_the_start_and_its_gradient_is_2_alpha_delta():
    body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    callback = layerwise.L2SP(body, alpha=0.5)
    assert float(callback.penalty().detach()) == 0.0
    with torch.no_grad():
        for p in body.parameters():
            p.add_(torch.randn_like(p))
    loss = callback.alpha * callback.penalty()
    loss.backward()
    for p, start in zip(body.parameters(), callback.start):
        torch.testing.assert_close(p.grad, 2 * callback.alpha * (p.detach() - start))


def test_l2sp_keeps_the_body_closer_to_its_start(dls):
    distances = {}
    for alpha in (0.0, 10.0):
        learn = _learner(dls)
        learn.unfreeze()
        callback = layerwise.L2SP(learn.model[0], alpha=alpha)
        with learn.no_bar(), learn.no_logging():
            tl.training.set_seed(0, reproducible=True)
            learn.fit(2, 1e-2, cbs=callback)
        distances[alpha] = callback.distances[-1]
    assert 0 < distances[10.0] < distances[0.0]


def test_ablation_trains_each_method_per_seed_and_records_what_it_did(dls):
    settings = {"one rate": {"lr": 1e-3},
                "discriminative": {"lr": slice(1e-5, 1e-3)},
                "gradual": {"lr": slice(1e-5, 1e-3), "gradual": True},
                "l2sp": {"lr": 1e-3, "alpha": 1.0},
                "head only": {"lr": 1e-3, "head_only": True}}
    rows = layerwise.ablation(lambda seed: _learner(dls), settings, epochs=3, seeds=[0, 1])
    assert [(r["method"], r["seed"]) for r in rows] == [(m, s) for s in (0, 1) for m in settings]
    by = {(r["method"], r["seed"]): r for r in rows}
    steps = len(by["one rate", 0]["distances"])
    assert steps > 0 and all(len(r["distances"]) == steps == len(r["rates"]) for r in rows)
    rates = by["discriminative", 0]["rates"]   # at every step, each group's rate is its share of the head's
    np.testing.assert_allclose(rates / rates[:, -1:], np.tile(np.array(layerwise.discriminative_lrs(1e-5, 1e-3, 3)) / 1e-3,
                                                              (len(rates), 1)), rtol=1e-6)
    stages = by["gradual", 0]["stages"]
    assert [s["trainable_groups"] for s in stages] == [1, 2, 3]
    frozen = np.isnan(by["gradual", 0]["rates"])   # one epoch per stage: frozen groups have no rate
    steps_per_stage = steps // 3
    assert frozen[:steps_per_stage].tolist() == [[True, True, False]] * steps_per_stage
    assert not frozen[-steps_per_stage:].any()
    # the penalty holds the body closer than the same run without it
    assert by["l2sp", 0]["distances"][-1] < by["one rate", 0]["distances"][-1]
    table = tl.evaluate.seed_table(rows)
    assert list(table.index) == list(settings) and list(table.columns[:2]) == ["seed 0", "seed 1"]
    np.testing.assert_allclose(table["std"], table[["seed 0", "seed 1"]].std(axis=1, ddof=1).round(3), atol=1e-3)


def test_ablation_rejects_unknown_settings_and_too_few_epochs_for_the_stages(dls):
    with pytest.raises(ValueError, match="settings need 'lr'"):
        layerwise.ablation(lambda seed: _learner(dls), {"x": {"rate": 1e-3}}, epochs=3, seeds=[0])
    with pytest.raises(TypeError, match="must be a dict"):
        layerwise.ablation(lambda seed: _learner(dls), {"x": 1e-3}, epochs=3, seeds=[0])
    with pytest.raises(ValueError, match="at least one epoch per stage"):
        layerwise.ablation(lambda seed: _learner(dls), {"g": {"lr": 1e-3, "gradual": True}}, epochs=2, seeds=[0])


def test_gradual_unfreezing_gives_extra_epochs_to_the_last_stages(dls):
    rows = layerwise.ablation(lambda seed: _learner(dls), {"g": {"lr": 1e-3, "gradual": True}}, epochs=5, seeds=[0])
    stages = rows[0]["stages"]
    assert [s["trainable_groups"] for s in stages] == [1, 2, 3] and [s["epochs"] for s in stages] == [1, 2, 2]
    per_epoch = len(dls.train)
    trains = ~np.isnan(rows[0]["rates"])   # which groups had a rate at each step
    # 5 epochs over 3 stages: 1, 2, 2 epochs, so the head trains alone for one epoch only
    assert trains[:, 0].sum() == 2 * per_epoch and trains[:, 1].sum() == 4 * per_epoch
    assert len(trains) == 5 * per_epoch
    assert rows[0]["learner"] is not None


def test_group_lrs_reads_each_setting_as_fastai_does_and_changes_nothing(dls):
    learn = _learner(dls)
    learn.create_opt()
    before = [h["lr"] for h in learn.opt.hypers]
    np.testing.assert_allclose(layerwise.group_lrs(learn, 1e-2), [1e-2] * 3)
    np.testing.assert_allclose(layerwise.group_lrs(learn, slice(1e-4, 1e-2)), [1e-4, 1e-3, 1e-2])
    np.testing.assert_allclose(layerwise.group_lrs(learn, [1e-3, 1e-3, 1e-2]), [1e-3, 1e-3, 1e-2])
    assert [h["lr"] for h in learn.opt.hypers] == before
    with pytest.raises(ValueError, match="3 positive rates"):
        layerwise.group_lrs(learn, [1e-3, 1e-2])
    with pytest.raises(ValueError, match="positive"):
        layerwise.group_lrs(learn, [1e-3, 0, 1e-2])
    assert [h["lr"] for h in learn.opt.hypers] == before


def test_a_plain_fit_watched_gives_the_row_the_ablation_gives(dls):
    """Notebook 03 runs one setting as plain fastai calls and puts it into the sweep: the same
    seed and steps must give the same accuracy and distances as the ablation's own run."""
    settings = {"slice": {"lr": slice(1e-5, 1e-3)}}
    ablated = layerwise.ablation(lambda seed: _learner(dls), settings, epochs=2, seeds=[0])[0]
    learn = _learner(dls)
    drift, rates = layerwise.watch_run(learn)
    learn.unfreeze()
    learn.fit_one_cycle(2, slice(1e-5, 1e-3))   # validates after every epoch: must not change the training
    row = layerwise.run_row(learn, tl.training.result_row(learn, "slice", 0.0), 0, drift, rates)
    assert row["accuracy"] == pytest.approx(ablated["accuracy"])
    np.testing.assert_allclose(row["distances"], ablated["distances"], rtol=1e-5)
    np.testing.assert_allclose(row["rates"], ablated["rates"])


def test_group_table_counts_a_frozen_group_as_frozen_although_its_batchnorm_trains(dls):
    learn = _learner(dls)   # frozen, fastai's train_bn=True
    assert any(p.requires_grad for p in learn.splitter(learn.model)[0])   # its BatchNorm layers
    assert list(layerwise.group_table(learn)["trains"]) == [False, False, True]
