"""One preprocessing for every path: a 300 x 200 photo gives the same tensor to feature
extraction, ImageNet prediction, the corrupted copies of notebook 04, a learner's validation
DataLoader and the command-line fine-tuning."""
import numpy as np
import pytest
import torch
from PIL import Image

import tlcourse as tl
from tlcourse import features, finetune, preprocess, shift

SIZE = 32
NO_STATS = ([0.0] * 3, [1.0] * 3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("wide") / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def expected(path, stats=NO_STATS):
    # The recipe written out: the centre 200 x 200 square, bilinear to SIZE x SIZE, [0, 1], normalised.
    square = Image.open(path).convert("RGB").crop((50, 0, 250, 200)).resize((SIZE, SIZE), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(square).copy()).permute(2, 0, 1).float() / 255
    mean, std = (torch.tensor(s).view(3, 1, 1) for s in stats)
    return (x - mean) / std


class Recorder(torch.nn.Module):
    """Stands in for a network: keeps its input, answers 1,000 scores."""
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.float().cpu())
        return torch.zeros(len(x), 1000)


def test_the_recipe_is_a_centre_crop_then_a_bilinear_resize(folder):
    path = sorted(folder.rglob("*.png"))[0]
    got = preprocess.to_tensor([preprocess.read(path, SIZE)], NO_STATS)[0]
    assert torch.equal(got, expected(path))
    with pytest.raises(ValueError, match="size=4.*at least 8"):
        preprocess.prepare(Image.open(path), 4)


def test_feature_extraction_and_imagenet_prediction_see_the_same_tensor(folder):
    path = sorted(folder.rglob("*.png"))[0]
    stats = tl.BACKBONES["efficientnet_lite0"].stats
    body = Recorder()
    body.add_module("only", torch.nn.Identity())          # forward_features walks named children
    seen = []
    body.only.register_forward_hook(lambda m, inputs, output: seen.append(inputs[0].float().cpu()))
    features.forward_features(body, [str(path)], ["only"], SIZE, stats)
    model = Recorder()
    tl.predict_imagenet({"wide": Image.open(path)}, size=SIZE, model=model, k=1)
    torch.testing.assert_close(seen[0][0], expected(path, stats))
    torch.testing.assert_close(model.seen[0][0], expected(path, stats))


def test_corrupted_copies_start_from_the_same_image(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(tl.cache, "CACHE", tmp_path)
    monkeypatch.setattr(shift, "corrupt_image", lambda image, corruption, severity: image)  # keep the prepared image
    items = tl.load_items(folder).iloc[:1]
    copy = shift.corrupt_items(items, "fog", 3, size=SIZE)
    stored = torch.from_numpy(np.asarray(Image.open(copy["path"][0]))).permute(2, 0, 1).float() / 255
    assert torch.equal(stored, expected(items["path"][0]))


def test_the_validation_loader_and_the_command_line_see_the_same_tensor(folder, tmp_path, monkeypatch):
    dls = tl.get_dls(folder, size=SIZE, valid_per_class=2, bs=4)
    x, _ = dls.valid.one_batch()
    paths = list(dls.valid.items["path"])
    for image, path in zip(x.cpu(), paths):
        torch.testing.assert_close(image.float(), expected(path))
    made = []
    real = finetune.get_dls
    monkeypatch.setattr(finetune, "get_dls", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    finetune.main(["--dataset", str(folder), "--out", str(tmp_path), "--backbone", "small_cnn", "--size", str(SIZE),
                   "--n-per-class", "4", "--valid-per-class", "2", "--epochs", "1", "--freeze-epochs", "0", "--bs", "4"])
    cli = made[0].valid
    raw = [cli.dataset[i][0] for i in range(len(cli.dataset))]     # the PIL images the loader holds
    for image, path in zip(raw, cli.items["path"]):
        got = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255
        assert torch.equal(got, expected(path))
