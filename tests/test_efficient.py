"""Parameter-efficient fine-tuning (tlcourse/efficient.py) and forgetting (tlcourse/forgetting.py),
notebook 06: each method trains exactly what it names, LoRA starts as the model was and can be
merged or taken away, memory is counted by construction, and an untouched body forgets nothing."""
import pytest
import torch

import tlcourse as tl
from tlcourse import efficient, forgetting, training
from conftest import tiny_dls


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    return tiny_dls(tmp_path_factory.mktemp("img"), size=32)


def lite0(dls, seed=0):
    return tl.create_learner(dls, "efficientnet_lite0", seed=seed, lin_ftrs=[], concat_pool=False)


def test_each_method_trains_what_it_names(dls):
    body_sizes = {}
    for method in efficient.WHAT_TRAINS:
        learn = lite0(dls)
        counted = efficient.train_only(learn, method)
        trains = {name for name, p in learn.model.body.named_parameters() if p.requires_grad}
        assert all(p.requires_grad for p in learn.model.head.parameters())
        if method == "head only":
            assert not trains
        if method == "bias only":
            assert trains and all(name.endswith("bias") for name in trains)
        if method == "LoRA":
            assert trains and all("lora_" in name for name in trains)
        if method == "full":
            assert counted.trainable == counted.total
        # the optimizer holds exactly the parameters that train
        held = {id(p) for group in learn.opt.param_lists for p in group if p.requires_grad}
        assert held == {id(p) for p in learn.model.parameters() if p.requires_grad}
        body_sizes[method] = counted.trainable
    assert body_sizes["head only"] < body_sizes["bias only"] < body_sizes["norm only"] < body_sizes["full"]


def test_norm_only_trains_layernorm_in_a_transformer():
    learn = tl.text.text_learner(tl.text.text_dls(tl.split_items(tl.text.tweets(), n_per_class=4, valid_per_class=2)))
    efficient.train_only(learn, "norm only")
    trains = [name for name, p in learn.model.body.named_parameters() if p.requires_grad]
    assert trains and all("LayerNorm" in name for name in trains)


def test_an_unknown_method_or_rank_is_a_clear_error(dls):
    with pytest.raises(ValueError, match="method='prefix tuning'.*must be one of 'head only'"):
        efficient.train_only(lite0(dls), "prefix tuning")
    with pytest.raises(ValueError, match="rank"):
        efficient.add_lora(lite0(dls).model, r=0)


def test_lora_starts_as_the_model_was_merges_and_can_be_taken_away(dls):
    learn = lite0(dls)
    x = dls.one_batch()[0]
    model = learn.model.eval()
    with torch.no_grad():
        before = model(x).float()
        pointwise = efficient.pointwise_convolutions(model.body)
        efficient.add_lora(model, r=4)
        assert len(efficient.lora_layers(model)) == len(pointwise) > 0
        assert torch.allclose(model(x).float(), before, atol=1e-5)      # B starts at zero
        for layer in efficient.lora_layers(model):                      # as if LoRA had trained
            for name, p in layer.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.1)
        adapted = model(x).float()
        assert not torch.allclose(adapted, before, atol=1e-3)
        efficient.merge_lora(model)
        assert torch.allclose(model(x).float(), adapted, atol=1e-4)    # merged: the same function
        efficient.unmerge_lora(model)
        efficient.use_lora(model, False)
        assert torch.allclose(model(x).float(), before, atol=1e-4)     # taken away: the pretrained model
        efficient.use_lora(model, True)
        assert torch.allclose(model(x).float(), adapted, atol=1e-4)


def test_memory_is_counted_by_construction(dls):
    rows = {method: efficient.run_method(lambda s: lite0(dls, s), method, 1, 1e-3, seed=0) for method in ("head only", "LoRA", "full")}
    for row in rows.values():
        memory = row["memory"]
        assert memory["gradients"] == 4 * row["trainable"]
        assert memory["optimizer state"] == 2 * memory["gradients"]      # Adam: two numbers per trainable parameter
    again = efficient.memory(rows["LoRA"]["learner"])
    assert again == rows["LoRA"]["memory"]                                # the same count every time
    # the head alone needs no activations of the body; LoRA still back-propagates through it
    assert rows["head only"]["memory"]["activations"] < rows["LoRA"]["memory"]["activations"] / 10
    assert rows["LoRA"]["memory"]["gradients"] < rows["full"]["memory"]["gradients"] / 5


def test_an_untouched_body_forgets_nothing_and_a_changed_one_does():
    items = tl.load_items("photo_tiles").iloc[::150].reset_index(drop=True)    # 17 tiles
    body = tl.features.load_body("efficientnet_lite0")
    head = forgetting.imagenet_head("efficientnet_lite0")
    same = forgetting.imagenet_drift(body, items, "photo_tiles-test", size=32, head=head)
    assert same["agreement"] == 1.0 and abs(same["kl"]) < 1e-5 and same["feature_cosine"] > 0.9999
    with torch.no_grad():
        for p in body.parameters():
            p.add_(0.05 * torch.randn_like(p))
    moved = forgetting.imagenet_drift(body, items, "photo_tiles-test", size=32, head=head)
    assert moved["kl"] > 0.01 and moved["feature_cosine"] < same["feature_cosine"]
    with pytest.raises(ValueError, match="path"):
        forgetting.imagenet_drift(body, items.iloc[:0], "empty")


def test_the_training_function_skips_validation_inside_fit(dls):
    row = efficient.run_method(lambda s: lite0(dls, s), "bias only", 1, 1e-3, seed=0)
    assert any(isinstance(cb, training.SkipValidation) for cb in row["learner"].cbs)
    assert 0 <= row["accuracy"] <= 1 and row["method"] == "bias only"
