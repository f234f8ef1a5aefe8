"""The precision policy (tlcourse.runtime): one setting, honoured by every entry point that computes.

Under `bf16` the convolutions and matrix products of feature extraction, validation, ImageNet
predictions and the text encoder really run in bfloat16 (seen by forward hooks); under `fp32`
in float32; `auto` follows the hardware and the kind of work; caches never mix precisions.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import tlcourse as tl
from tlcourse import adapt, features, runtime, text, training
from tlcourse.maintain import run


@pytest.fixture
def precision(monkeypatch):
    """Set the policy for one test; it is put back afterwards."""
    def set_to(value):
        monkeypatch.setattr(runtime, "_precision", runtime._check_precision(value))
    return set_to


@pytest.fixture
def native(monkeypatch):
    """Pretend this CPU does, or does not, compute bfloat16 natively."""
    def set_to(value: bool):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: value)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: value)
    return set_to


class OutputDtypes:
    """Forward hooks on every module of the given types: the dtypes of their outputs."""

    def __init__(self, model: nn.Module, types=(nn.Conv2d, nn.Linear)):
        self.seen = []
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules() if isinstance(m, types)]
        assert self.handles, "no module to watch"

    def _hook(self, module, inputs, output):
        self.seen.append(output.dtype)

    def remove(self):
        for h in self.handles:
            h.remove()
        return set(self.seen)


def test_the_setting_is_checked_and_honoured(precision):
    precision("bf16")
    assert {runtime.dtype_for(w) for w in runtime.WORK} == {torch.bfloat16}
    precision("fp32")
    assert {runtime.dtype_for(w) for w in runtime.WORK} == {torch.float32}
    with pytest.raises(ValueError, match="Unknown precision 'half'.*auto, bf16, fp32"):
        runtime.set_precision("half")
    with pytest.raises(ValueError, match="Unknown kind of work"):
        runtime.dtype_for("painting")


def test_the_environment_variable_sets_the_policy():
    code = "from tlcourse import runtime; print(runtime.precision(), runtime.dtype_for('inference'))"
    env = {**os.environ, "TLCOURSE_PRECISION": "bf16"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["bf16", "torch.bfloat16"]


def test_auto_uses_bfloat16_only_where_native_and_measured_faster(precision, native):
    precision("auto")
    native(False)
    assert {runtime.dtype_for(w) for w in runtime.WORK} == {torch.float32}
    assert "does not compute bfloat16 natively" in runtime.report()
    native(True)
    assert runtime.dtype_for("inference") == torch.bfloat16
    assert runtime.dtype_for("training") == torch.bfloat16
    assert runtime.dtype_for("conv training") == torch.float32   # measured slower on this CPU
    assert "float32 for training convolutions" in runtime.report()


def test_bf16_is_forced_even_where_not_native(precision, native):
    native(False)
    precision("bf16")
    assert runtime.dtype_for("conv training") == torch.bfloat16


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    from conftest import make_folder
    folder = make_folder(tmp_path_factory.mktemp("img") / "images", classes=("a", "b"), per_class=4, size=32)
    return tl.split_items(tl.load_items(folder), valid_per_class=1, seed=0)


@pytest.mark.parametrize("policy, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_feature_extraction_computes_at_the_policy_precision(precision, items, policy, dtype):
    precision(policy)
    body = features.load_body()
    watch = OutputDtypes(body)
    out = features.forward_features(body, list(items["path"]), ["head_conv"], 32, tl.BACKBONES["efficientnet_lite0"].stats)
    assert watch.remove() == {dtype}
    assert out["head_conv"].dtype == np.float32   # what is kept is float32 either way


def test_the_feature_cache_is_keyed_by_precision(precision, items, tmp_path, monkeypatch):
    monkeypatch.setattr(tl.cache, "CACHE", tmp_path)
    precision("fp32")
    fp32 = features.extract_features(items, "toy", layers="head_conv", size=32)["head_conv"]
    precision("bf16")
    bf16 = features.extract_features(items, "toy", layers="head_conv", size=32)["head_conv"]
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2
    assert not np.array_equal(fp32, bf16)          # computed again, not read from the float32 file
    cosine = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cosine.min() > 0.99                     # and still the same features


def test_imagenet_predictions_compute_at_the_policy_precision(precision):
    precision("bf16")
    model = tl.models.imagenet_classifier()
    watch = OutputDtypes(model)
    table = tl.predict_imagenet({"coffee": tl.load_photos()["coffee"]}, k=1, model=model, size=64)
    assert watch.remove() == {torch.bfloat16} and table["probability"].dtype == np.float64


@pytest.fixture
def learn(tmp_path):
    from conftest import stand_in_learner, tiny_dls
    return stand_in_learner(tiny_dls(tmp_path))


def test_every_course_learner_carries_the_precision_callback(learn):
    assert any(isinstance(cb, training.Precision) for cb in learn.cbs)


def test_validation_runs_at_inference_precision_and_hands_back_float32(precision, learn):
    precision("bf16")
    watch = OutputDtypes(learn.model)
    preds, _ = learn.get_preds()
    assert watch.remove() == {torch.bfloat16} and preds.dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")   # nothing left switched on


def test_auto_trains_in_bfloat16_while_convolutions_are_frozen_and_float32_once_they_learn(
        precision, native, learn):
    precision("auto")
    native(True)
    seen = {}

    class Watch(training.Callback):
        order = 20   # after Precision has entered its context

        def before_batch(self):
            if self.training:
                self.hooks = OutputDtypes(self.learn.model)

        def after_pred(self):
            if self.training:
                seen.setdefault(self.n_epoch, set()).update(self.hooks.remove())
    learn.freeze()                       # only the head (and BatchNorm) trains: "training"
    learn.fit(1, 1e-3, cbs=Watch())
    frozen = seen.pop(1)
    learn.unfreeze()                     # convolutions learn: "conv training"
    learn.fit(2, 1e-3, cbs=Watch())
    assert frozen == {torch.bfloat16} and seen[2] == {torch.float32}


class _Interrupt(training.Callback):
    order = 20   # after Precision has entered its context

    def before_batch(self):
        raise KeyboardInterrupt   # a learner pressing stop mid-batch


def test_an_interrupted_batch_does_not_change_what_runs_next(precision, learn, tmp_path):
    from conftest import stand_in_learner, tiny_dls
    precision("bf16")
    with pytest.raises(KeyboardInterrupt):
        learn.fit(1, 1e-3, cbs=_Interrupt())
    precision("fp32")
    # another learner (a re-run cell builds a new one) computes at its own precision ...
    other = stand_in_learner(tiny_dls(tmp_path / "other"))
    watch = OutputDtypes(other.model)
    other.fit(1, 1e-3)
    assert watch.remove() == {torch.float32} and not torch.is_autocast_enabled("cpu")
    # ... and so does any entry point that is not a learner
    with pytest.raises(KeyboardInterrupt):
        learn.fit(1, 1e-3, cbs=_Interrupt())
    with runtime.autocast("inference"):
        assert not torch.is_autocast_enabled("cpu")


def test_in_a_notebook_the_cell_that_was_stopped_closes_what_it_left_open(precision, learn, monkeypatch):
    """In IPython the course closes a leftover context after every cell, before the next runs."""
    registered = []

    class Events:
        def register(self, name, callback):
            registered.append((name, callback))

    class Shell:
        events = Events()
    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.setattr(runtime, "_closes_after_each_cell", False)
    precision("bf16")
    with pytest.raises(KeyboardInterrupt):
        learn.fit(1, 1e-3, cbs=_Interrupt())
    assert torch.is_autocast_enabled("cpu")           # left open by the stopped cell ...
    (name, callback), = registered
    callback(None)                                     # ... until IPython ends the cell
    assert name == "post_run_cell" and not torch.is_autocast_enabled("cpu")


def test_the_text_encoder_embeds_at_the_policy_precision_and_caches_by_it(precision, tmp_path, monkeypatch):
    monkeypatch.setattr(tl.cache, "CACHE", tmp_path)
    encoder = text.load_encoder()
    sentences = ["good morning", "terrible service"]
    found = {}
    for policy in ("fp32", "bf16"):
        precision(policy)
        watch = OutputDtypes(encoder, types=(nn.Linear,))
        found[policy] = text.embed_texts(sentences, "tiny")
        assert watch.remove() == {torch.float32 if policy == "fp32" else torch.bfloat16}
        assert found[policy].dtype == np.float32
    assert len(list((tmp_path / "features").glob("tiny-*.npy"))) == 2
    assert not np.array_equal(found["fp32"], found["bf16"])


def _notebook_made_with(path, environment):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata["tlcourse"] = environment
    nbformat.write(nb, path)
    return path


def test_check_machine_says_when_committed_outputs_cannot_be_reproduced(precision, tmp_path):
    precision("fp32")
    same = _notebook_made_with(tmp_path / "same.ipynb", runtime.environment())
    assert run.check_machine([same]) == {"settings": [], "machine": []}
    assert run.main(["--check-machine", "--quiet", str(same)]) == 0
    # what a learner sets: an error that says how to match
    other = _notebook_made_with(tmp_path / "other.ipynb", {**runtime.environment(), "precision": "auto",
                                                           "inference": "bfloat16", "threads": 1})
    problems = run.check_machine([other])
    assert any("precision: the committed outputs were made with 'auto'" in p for p in problems["settings"])
    assert any("threads" in p for p in problems["settings"])
    assert run.main(["--check-machine", "--quiet", str(other)]) == 1
    # what comes with the machine: the comparison is skipped, not failed
    amd = _notebook_made_with(tmp_path / "amd.ipynb", {**runtime.environment(), "cpu": "AuthenticAMD family 25"})
    problems = run.check_machine([amd, amd])
    assert problems["settings"] == [] and len(problems["machine"]) == 1 and "AuthenticAMD" in problems["machine"][0]
    assert run.main(["--check-machine", "--quiet", str(amd)]) == 3
    unstamped = tmp_path / "old.ipynb"
    import nbformat
    nbformat.write(nbformat.v4.new_notebook(), unstamped)
    assert "regenerate it" in run.check_machine([unstamped])["settings"][0]


def test_check_machine_ignores_native_bfloat16_for_float32_outputs(precision, tmp_path):
    precision("fp32")
    made = _notebook_made_with(tmp_path / "nb.ipynb", {**runtime.environment(),
                                                      "bf16_native": not runtime.bf16_native()})
    assert run.check_machine([made]) == {"settings": [], "machine": []}


def test_the_cpu_is_named_with_the_instruction_sets_that_change_kernels():
    name = runtime.cpu()
    assert name and ("avx" in name or not name.startswith(("GenuineIntel", "AuthenticAMD")))


def test_committed_notebooks_record_what_made_them():
    import nbformat
    from pathlib import Path
    root = Path(__file__).parents[1]
    for path in sorted(root.glob("notebooks/[0-9][0-9]_*.ipynb")) + sorted(root.glob("solutions/*.ipynb")):
        made = nbformat.read(path, as_version=4).metadata.get("tlcourse")
        assert made and made["precision"] in runtime.PRECISIONS, f"{path.name}: regenerate with make notebooks"


def test_domain_features_and_alignment_losses_come_back_in_float32_under_bf16(precision, learn, tmp_path):
    """What a notebook hands to numpy or to a covariance must not stay bfloat16."""
    from tlcourse import shift
    precision("bf16")
    items = learn.dls.items[learn.dls.items["is_valid"]]
    feats, _ = shift.domain_features(learn, {"one": items})
    assert feats.dtype == np.float32
    coral = adapt.CORAL(learn.dls.train, weight=1.0)
    learn.fit(1, 1e-3, cbs=coral)
    assert coral.source_features.dtype == torch.float32 and np.isfinite(coral.losses).all()


def test_on_another_device_nothing_is_a_setting_to_change(precision, tmp_path):
    precision("fp32")
    gpu_made = _notebook_made_with(tmp_path / "gpu.ipynb", {**runtime.environment(), "device": "cuda",
                                                           "threads": None})
    problems = run.check_machine([gpu_made])
    assert problems["settings"] == [] and any("threads" in p for p in problems["machine"])


def test_compare_refuses_a_run_made_under_other_settings(precision, tmp_path, capsys):
    precision("fp32")
    committed = _notebook_made_with(tmp_path / "00_x.ipynb", runtime.environment())
    (tmp_path / "runs").mkdir()
    _notebook_made_with(tmp_path / "runs" / "00_x.ipynb", {**runtime.environment(), "precision": "bf16"})
    assert run.compare([committed], tmp_path / "runs") == 1
    assert "run it again" in capsys.readouterr().out


class DrawnUnder:
    """An iterable of batches that records, at each draw, whether autocast was on."""

    def __init__(self, batches):
        self.batches, self.autocast = batches, []

    def __iter__(self):
        for batch in self.batches:
            self.autocast.append(torch.is_autocast_enabled("cpu"))
            yield batch


def test_a_validation_batch_drawn_under_bf16_autocast_is_warped(precision, tmp_path):
    """Why batches are drawn outside autocast: a DataLoader with affine augmentations warps even
    its validation images by the identity (fastai's affine_grid + grid_sample), and under bfloat16
    autocast that warp moves pixels. Found when the ELPV benchmark's own pass over its held-out
    cells disagreed with fastai's validation of the same weights."""
    from conftest import make_folder
    folder = make_folder(tmp_path / "images", classes=("a", "b"), per_class=12, size=32)
    dls = tl.get_dls(folder, size=32, valid_per_class=4, bs=8, batch_tfms=tl.data.cell_augmentations())
    outside = next(iter(dls.valid))[0].as_subclass(torch.Tensor)
    assert torch.equal(next(iter(dls.valid))[0].as_subclass(torch.Tensor), outside)   # drawing is deterministic
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = next(iter(dls.valid))[0].as_subclass(torch.Tensor)
    assert inside.dtype == torch.float32 and (inside - outside).abs().max() > 1e-3


def test_adabn_draws_its_target_batches_outside_autocast(precision, learn):
    precision("bf16")
    batches = DrawnUnder([(x,) for x, _ in learn.dls.valid])
    with adapt.adabn(learn, batches):
        pass
    assert batches.autocast and not any(batches.autocast)
