"""tlcourse.layerwise: rates per group, one-cycle against fastai's recorder, gradual unfreezing, L2-SP."""
import numpy as np
import pytest
import torch

import tlcourse as tl
from tlcourse import layerwise


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    from conftest import make_folder
    folder = make_folder(tmp_path_factory.mktemp("img") / "images", classes=("a", "b"), per_class=12, size=16)
    return tl.get_dls(folder, size=16, valid_per_class=2, bs=4)


def _learner(dls):
    return tl.create_learner(dls, "small_cnn", body=tl.create_learner(dls, "small_cnn", pretrained=False).model[0])


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
