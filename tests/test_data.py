"""tlcourse.data: the named datasets are what they claim, and bad input gets a clear error."""
import os

import numpy as np
import pandas as pd
import pytest

import tlcourse as tl
from tlcourse import data, datasets
from tlcourse.preprocess import ImageReader
from conftest import make_folder


@pytest.mark.parametrize("name, n_items, n_classes", [
    ("elpv", 2624, 2), ("mnist5k", 5000, 10), ("uci_digits", 1797, 10),
    ("silhouettes", 10000, 10), ("photos", 8, 8), ("photo_tiles", 2446, 11), ("mnist_m", 5000, 10)])
def test_offline_datasets_load_without_network(name, n_items, n_classes):
    items = tl.load_items(name)
    assert len(items) == n_items
    assert items["label"].nunique() == n_classes
    assert all(os.path.exists(p) for p in items["path"].sample(5, random_state=0, replace=True))


def test_photo_tiles_are_whole_tiles_of_the_bundled_photos_with_something_in_them():
    from PIL import Image
    items = tl.load_items("photo_tiles")
    assert set(items["label"]) == set(tl.datasets.load_photos()) | set(tl.datasets.TEXTURES)
    assert items["label"].value_counts().min() >= 100   # room for 20 training and 40 held-out tiles
    for path in items.groupby("label").head(2)["path"]:
        tile = np.asarray(Image.open(path).convert("RGB"), dtype=float)
        assert tile.shape == (tl.datasets.TILE, tl.datasets.TILE, 3) and tile.std() >= 8


def test_mnist_m_blends_the_same_digits_in_the_same_order_over_colour_patches():
    from PIL import Image
    mnist, blended = tl.load_items("mnist5k"), tl.load_items("mnist_m")
    assert list(blended["label"]) == list(mnist["label"])   # so a seed holds out the same digits in both
    for i in (0, 1234, 4999):
        digit = np.asarray(Image.open(mnist["path"][i]).convert("L"), dtype=int)
        colour = np.asarray(Image.open(blended["path"][i]), dtype=int)
        assert colour.shape == (28, 28, 3)
        assert (colour[..., 0] != colour[..., 1]).any() or (colour[..., 1] != colour[..., 2]).any()  # colour
        background = colour[digit == 0]   # |patch - 0| = the photo's patch itself: not black, not flat
        assert background.mean() > 10 and background.std() > 1
        # under a full-white stroke the value is 255 - patch: the stroke shows the patch's inverse
        stroke, patch_mean = colour[digit == 255], background.mean(0)
        if len(stroke):
            assert np.abs(stroke.mean(0) - (255 - patch_mean)).max() < 80


def test_elpv_targets_and_domains():
    assert tl.load_items("elpv", domain="mono").shape[0] == 1074
    assert tl.load_items("elpv", domain="poly").shape[0] == 1550
    grades = tl.load_items("elpv", target="probability")["label"]
    assert set(grades) == {"0", "1/3", "2/3", "1"}
    binary = tl.load_items("elpv")["label"]
    assert (binary == "defective").sum() == grades.isin(["2/3", "1"]).sum()


def test_image_folders_are_written_once_and_keyed_by_their_contents(tmp_path, monkeypatch):
    monkeypatch.setattr(tl.cache, "CACHE", tmp_path)
    first = datasets._arrays_folder("tiny", [[[0, 255]]] * 4, ["a", "b", "a", "b"])
    stamp = os.path.getmtime(first["path"][0])
    again = datasets._arrays_folder("tiny", [[[0, 255]]] * 4, ["a", "b", "a", "b"])   # read, not rewritten
    assert os.path.getmtime(again["path"][0]) == stamp and list(again["path"]) == list(first["path"])
    other = datasets._arrays_folder("tiny", [[[9, 9]]] * 4, ["x"] * 4)               # other contents: a new folder
    assert list(other["label"]) == ["x"] * 4 and other["path"][0] != first["path"][0]
    assert len(list((tmp_path / "datasets").iterdir())) == 2       # no temporary folder left


def test_split_keeps_validation_fixed_and_training_nested():
    items = tl.load_items("uci_digits")
    small = tl.split_items(items, n_per_class=5, valid_per_class=10, seed=3)
    large = tl.split_items(items, n_per_class=20, valid_per_class=10, seed=3)
    assert small[small.is_valid]["path"].tolist() == large[large.is_valid]["path"].tolist()
    assert set(small[~small.is_valid]["path"]) <= set(large[~large.is_valid]["path"])
    assert (small[~small.is_valid]["label"].value_counts() == 5).all()
    assert (large[large.is_valid]["label"].value_counts() == 10).all()
    other_seed = tl.split_items(items, n_per_class=5, valid_per_class=10, seed=4)
    assert set(other_seed["path"]) != set(small["path"])


def test_split_works_on_a_filtered_table():
    # A table filtered by hand keeps its original row labels; the split must not care.
    items = tl.load_items("elpv")
    poly = items[items["domain"] == "poly"]
    split = tl.split_items(poly, n_per_class=5, valid_per_class=10, seed=0)
    assert set(split["path"]) <= set(poly["path"])
    assert split.groupby(["is_valid", "label"]).size().tolist() == [5, 5, 10, 10]


def test_the_image_reader_matches_fastais_validation_resize_and_reads_once(tmp_path):
    """The in-memory loader gives the pixels fastai's Resize gives to validation images,
    square or not, and reads each file once."""
    import numpy as np
    from fastai.vision.augment import Resize
    from fastai.vision.core import PILImage
    from PIL import Image
    folder = make_folder(tmp_path / "img", per_class=2, size=28)
    wide = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)).save(wide)
    paths = sorted(str(p) for p in folder.rglob("*.png")) + [str(wide)]
    images = ImageReader(32)
    resize = Resize(32)
    for path in paths:
        mine = images({"path": path})
        theirs = resize(PILImage.create(path), split_idx=1)   # as for validation images
        assert mine.size == (32, 32) and np.array_equal(np.asarray(mine), np.asarray(theirs))
    assert len(images.images) == len(paths)
    assert images({"path": paths[0]}) is images({"path": paths[0]})   # the kept copy, not a new read
    assert len(ImageReader(32, max_bytes=0)({"path": paths[0]}).getbands()) == 3


def test_get_dls_from_a_folder(image_folder):
    dls = tl.get_dls(image_folder, size=12, valid_per_class=2, bs=4)
    x, y = dls.one_batch()
    assert tuple(x.shape) == (4, 3, 12, 12)
    assert list(dls.vocab) == ["cat", "dog"]
    assert len(dls.valid_ds) == 4 and len(dls.train_ds) == 8


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnsit'.*elpv.*silhouettes.*folder"):
        tl.get_dls("mnsit")


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="Folder not found"):
        tl.get_dls(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(ValueError, match="No images found.*one sub-folder per class"):
        tl.get_dls(tmp_path / "empty")


def test_corrupt_image_is_skipped_with_a_warning_naming_it(image_folder):
    broken = image_folder / "cat" / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="broken.png"):
        items = tl.load_items(image_folder)
    assert str(broken) not in set(items["path"]) and len(items) == 12


def test_single_class(tmp_path):
    folder = make_folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(ValueError, match="at least two classes"):
        tl.get_dls(folder)


def test_more_samples_per_class_than_exist(image_folder):
    with pytest.raises(ValueError, match=r"n_per_class=50.*only 4 training images.*n_per_class <= 4"):
        tl.get_dls(image_folder, n_per_class=50, valid_per_class=2)


def test_unknown_domain_and_target():
    with pytest.raises(ValueError, match="domains.*mono.*poly"):
        tl.load_items("elpv", domain="thin-film")
    with pytest.raises(ValueError, match="targets"):
        tl.load_items("elpv", target="colour")
    with pytest.raises(ValueError, match="domains none"):
        tl.load_items("mnist5k", domain="mono")


def test_full_mode_dataset_fails_fast_when_the_server_is_silent(monkeypatch, tmp_path,
                                                               silent_server, short_timeout):
    import time
    from fastai.data.external import URLs
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path))
    monkeypatch.setattr(URLs, "PETS", silent_server.replace(".pth", ".tgz"))
    start = time.perf_counter()
    with pytest.raises(tl.OfflineError, match="Offline, use an offline dataset instead: elpv"):
        datasets.pets()
    assert time.perf_counter() - start < 10


def test_dataset_table_lists_every_dataset():
    table = tl.list_datasets()
    assert isinstance(table, pd.DataFrame)
    assert set(table.index) == set(tl.DATASETS)


def test_label_indices_keep_the_class_order_and_refuse_unknown_labels():
    items = pd.DataFrame({"label": ["b", "a", "b"]})
    assert data.label_indices(items, ["b", "a"]) == [0, 1, 0]
    with pytest.raises(ValueError, match=r"\['b'\] are not among the classes \['a'\]"):
        data.label_indices(items, ["a"])


def test_a_table_without_a_split_gets_one_message_everywhere():
    items = pd.DataFrame({"label": ["a", "b"], "text": ["x", "y"]})
    for call in (lambda: tl.features.linear_probe(np.zeros((2, 3)), items),
                 lambda: tl.text.text_dls(items),
                 lambda: tl.models.feature_learner(np.zeros((2, 3)), items)):
        with pytest.raises(ValueError, match=r"lacks column\(s\) \['is_valid'\].*tl.split_items"):
            call()
