"""Your own images, end to end: a folder (one sub-folder per class, or fastai's train/ + valid/)
through get_dls -> create_learner -> fine-tuning -> save_model -> load_model -> predictions on
new images, in Python and from the command line (tlcourse/folders.py, tlcourse/predict.py)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import tlcourse as tl
from tlcourse import finetune, predict
from conftest import make_folder


def colour_folder(root, per_class=10):
    """fastai's layout, two classes a network tells apart at once: reddish and bluish squares."""
    rng = np.random.default_rng(0)
    for side, n in (("train", per_class), ("valid", per_class // 2)):
        for label, channel in (("red", 0), ("blue", 2)):
            (root / side / label).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 90, (24, 24, 3), dtype=np.uint8)
                pixels[..., channel] += 160
                Image.fromarray(pixels).save(root / side / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return colour_folder(tmp_path_factory.mktemp("own") / "my_images")


@pytest.fixture(scope="module")
def trained(folder):
    dls = tl.get_dls(folder, size=32, bs=4)
    learn = tl.create_learner(dls, "efficientnet_lite0", seed=0)
    tl.training.fine_tune(learn, 1, base_lr=1e-3, freeze_epochs=1, seed=0)
    return learn


def test_a_train_valid_folder_keeps_its_validation_images(folder):
    items = tl.load_items(folder)
    assert items["is_valid"].sum() == 10 and (~items["is_valid"]).sum() == 20
    assert all(("/valid/" in p) == v for p, v in zip(items["path"], items["is_valid"]))
    split = tl.split_items(items, n_per_class=4, seed=3)
    assert sorted(split.loc[split["is_valid"], "path"]) == sorted(items.loc[items["is_valid"], "path"])
    assert split[~split["is_valid"]].groupby("label").size().tolist() == [4, 4]
    assert not split.loc[~split["is_valid"], "path"].str.contains("/valid/").any()
    dls = tl.get_dls(folder, size=16, bs=4)
    assert len(dls.valid_ds) == 10 and len(dls.train_ds) == 20


def test_a_plain_folder_is_still_split_by_seed(tmp_path):
    items = tl.load_items(make_folder(tmp_path / "plain", per_class=10))
    assert "is_valid" not in items
    assert tl.split_items(items, valid_per_class=3)["is_valid"].sum() == 6


def test_a_class_missing_from_valid_is_a_clear_error(tmp_path):
    root = colour_folder(tmp_path / "uneven", per_class=4)
    for f in (root / "valid" / "blue").iterdir():
        f.unlink()
    (root / "valid" / "blue").rmdir()
    with pytest.raises(ValueError, match=r"same class folders.*only in train/: \['blue'\]"):
        tl.load_items(root)


def test_saved_and_loaded_the_model_predicts_what_the_learner_did(trained, folder, tmp_path):
    predict.save_model(trained, tmp_path / "model")
    assert json.loads((tmp_path / "model" / "model.json").read_text()) == {
        "backbone": "efficientnet_lite0", "classes": ["blue", "red"], "size": 32}
    saved = predict.load_model(tmp_path / "model")
    table = saved.predict(folder / "valid")
    assert list(table.columns) == ["path", "predicted", "probability", "P(blue)", "P(red)"]
    assert len(table) == 10
    # the same images through the learner's own validation pipeline
    dl = trained.dls.test_dl(pd.DataFrame({"path": table["path"]}))
    probs, _ = trained.get_preds(dl=dl)
    np.testing.assert_allclose(table[["P(blue)", "P(red)"]].to_numpy(), probs.float().numpy(), atol=2e-2)
    assert (table["predicted"] == [trained.dls.vocab[i] for i in probs.argmax(1)]).all()


def test_only_tensors_are_read_back(trained, tmp_path):
    predict.save_model(trained, tmp_path)
    state = torch.load(tmp_path / "model.pth", weights_only=True)   # fails on anything but tensors
    assert state.keys() == trained.model.state_dict().keys()
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"


def test_the_command_lines_fine_tune_then_predict(folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert finetune.main(["--dataset", str(folder), "--out", str(out), "--backbone", "small_cnn", "--size", "16",
                          "--n-per-class", "10", "--epochs", "1", "--freeze-epochs", "1", "--bs", "4"]) == 0
    assert json.loads((out / "result.json").read_text())["validation_images"] == 10   # valid/ was kept
    capsys.readouterr()
    assert predict.main([str(out), str(folder / "valid" / "red"), str(folder / "valid" / "blue" / "0.png"),
                         "--csv", str(tmp_path / "p.csv")]) == 0
    printed = capsys.readouterr().out
    assert "predicted" in printed and "P(red)" in printed
    assert len(pd.read_csv(tmp_path / "p.csv")) == 6


def test_what_cannot_be_loaded_says_why(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.pth, model.json.*save_model"):
        predict.load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="No such image"):
        predict._image_paths([tmp_path / "nothing.png"])
    with pytest.raises(ValueError, match="create_learner"):
        predict.save_model(type("NotACourseLearner", (), {"dls": object()})(), tmp_path)
