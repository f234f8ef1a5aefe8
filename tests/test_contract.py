"""The one model contract (models.TransferModel), checked on every kind of model the course
builds: the features' width is the declared width, replacing the classifier changes only the
head, and the parameter groups hold every parameter exactly once."""
import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

import tlcourse as tl
from tlcourse import efficient, models, text
from conftest import tiny_dls


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    return tiny_dls(tmp_path_factory.mktemp("img"), size=32)


def image_model(backbone, pretrained):
    def make(dls):
        return tl.create_learner(dls, backbone, pretrained=pretrained).model, torch.randn(2, 3, 32, 32)
    return make


def transferred(dls):
    source = tl.create_learner(dls, "small_cnn", pretrained=False, seed=1)
    return tl.create_learner(dls, "small_cnn", body=source.model.body).model, torch.randn(2, 3, 32, 32)


def feature_head(dls):
    items = pd.DataFrame({"label": ["a", "b"] * 4, "is_valid": [False] * 6 + [True] * 2})
    return models.feature_learner(np.random.default_rng(0).normal(size=(8, 12)), items, hidden=5).model, torch.randn(4, 12)


def sentence_classifier(dls):
    model = text.SentenceClassifier(3)
    batch = text.load_encoder().tokenizer(["a tweet", "another, longer tweet"], padding=True, return_tensors="pt")
    return model, (batch["input_ids"], batch["attention_mask"])


def with_lora(make):
    """The same model with peft's LoRA adapters in its body (notebook 06): still the contract."""
    def wrapped(dls):
        model, x = make(dls)
        return efficient.add_lora(model, r=2), x
    return wrapped


MODELS = {
    "efficientnet_lite0, pretrained": image_model("efficientnet_lite0", True),
    "efficientnet_lite1, pretrained": image_model("efficientnet_lite1", True),
    "efficientnet_lite2, pretrained": image_model("efficientnet_lite2", True),
    "mobilenet_v2, pretrained": image_model("mobilenet_v2", True),
    "small_cnn, random": image_model("small_cnn", False),
    "resnet18, random": image_model("resnet18", False),
    "small_cnn body, transferred": transferred,
    "feature head": feature_head,
    "sentence classifier": sentence_classifier,
    "efficientnet_lite0, pretrained, LoRA": with_lora(image_model("efficientnet_lite0", True)),
    "sentence classifier, LoRA": with_lora(sentence_classifier),
}


def call(method, x):
    return method(*x) if isinstance(x, tuple) else method(x.to(tl.runtime.device()))


@pytest.mark.parametrize("name", MODELS)
def test_every_model_honours_the_contract(name, dls):
    model, x = MODELS[name](dls)
    assert isinstance(model, models.TransferModel)
    assert model[0] is model.body and model[1] is model.head and len(model) == 2
    model.eval()
    with torch.no_grad():
        features = call(model.forward_features, x)
        n = len(x[0]) if isinstance(x, tuple) else len(x)
        assert tuple(features.shape) == (n, model.num_features)
        # the parameter groups: every parameter once, input side first, the head's in the last group
        groups = model.param_groups()
        ids = [id(p) for group in groups for p in group]
        assert sorted(ids) == sorted(id(p) for p in model.parameters()) and len(ids) == len(set(ids))
        assert len(groups) == len(model.group_names)
        assert id(model.get_classifier().weight) in {id(p) for p in groups[-1]}
        # a new classifier: only the head changes, and it answers the new number of classes
        body_before = copy.deepcopy(model.body.state_dict())
        head_before = model.get_classifier()
        model.reset_classifier(7)
        assert model.get_classifier() is not head_before and model.get_classifier().out_features == 7
        body_after = model.body.state_dict()
        assert body_before.keys() == body_after.keys()
        assert all(torch.equal(body_before[k], body_after[k]) for k in body_before)
        assert call(model, x).shape[-1] == 7
    pickle.loads(pickle.dumps(model))   # a whole model can be saved (fastai's export pickles it)


def test_a_model_without_the_contract_gets_a_clear_error():
    with pytest.raises(ValueError, match="contract"):
        models.classifier_of(torch.nn.Linear(2, 2))
    model = models.TransferModel(torch.nn.Identity(), torch.nn.ReLU(), 2)
    with pytest.raises(ValueError, match="no Linear layer"):
        model.get_classifier()


def test_a_learners_splitter_is_its_models_groups(dls):
    learn = tl.create_learner(dls, "small_cnn", pretrained=False)
    assert [[id(p) for p in g] for g in learn.splitter(learn.model)] == \
           [[id(p) for p in g] for g in learn.model.param_groups()]
    assert learn.model.group_names == tl.BACKBONES["small_cnn"].group_names


def test_trainable_parameters_counts_what_trains_now(dls):
    learn = tl.create_learner(dls, "efficientnet_lite0", pretrained=True)   # frozen: the head and BatchNorm train
    counted = models.trainable_parameters(learn)
    params = list(learn.model.parameters())
    assert counted.total == sum(p.numel() for p in params)
    assert counted.trainable == sum(p.numel() for p in params if p.requires_grad) < counted.total
    learn.unfreeze()
    assert models.trainable_parameters(learn.model).trainable == counted.total
    assert str(models.trainable_parameters(learn)) == f"trainable parameters: {counted.total:,} of {counted.total:,} (100.00 %)"


def test_the_backbones_widths_are_measured_not_typed():
    assert {name: spec.n_features for name, spec in tl.BACKBONES.items()} == \
           {"efficientnet_lite0": 1280, "efficientnet_lite1": 1280, "efficientnet_lite2": 1280,
            "mobilenet_v2": 1280, "small_cnn": 128, "resnet18": 512, "resnet34": 512, "resnet50": 2048}
