"""tlcourse.finetune: notebook 02's recipe from the command line, in one process and, through
`accelerate launch --multi_gpu`, in two CPU processes with DistributedDataParallel (the multi-GPU
code path, joined over gloo instead of NCCL)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tlcourse as tl
from tlcourse import finetune
from conftest import make_folder

ARGS = ["--backbone", "small_cnn", "--size", "16", "--n-per-class", "8", "--valid-per-class", "4",
        "--epochs", "1", "--freeze-epochs", "1", "--bs", "4"]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("finetune") / "images", classes=("a", "b"), per_class=12)


def test_one_process_writes_the_result_the_weights_and_its_checksum(folder, tmp_path):
    assert finetune.main(["--dataset", str(folder), "--out", str(tmp_path)] + ARGS) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["processes"] == 1 and result["validation_images"] == 8
    assert result["checksum_before"] != result["checksum"]
    dls = tl.get_dls(folder, size=16, n_per_class=8, valid_per_class=4, bs=4)
    learn = tl.create_learner(dls, "small_cnn", pretrained=False)
    model = learn.model
    model.load_state_dict(torch.load(tmp_path / "model.pth", weights_only=True))
    assert finetune.weights_checksum(model) == result["checksum"]
    assert learn.validate()[1] == pytest.approx(result["accuracy"])   # the saved weights score what was reported
    assert json.loads((tmp_path / "ranks" / "0.json").read_text())["checksum"] == result["checksum"]
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"


def test_bad_arguments_stop_before_any_work(capsys):
    with pytest.raises(SystemExit):
        finetune.parse(["--epochs", "0"])
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_accelerate_launch_trains_two_processes_that_end_with_the_same_weights(folder, tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate is a dependency of the course (pyproject.toml)"
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "TLCOURSE_PROGRESS": "0"}
    command = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
               "-m", "tlcourse.finetune", "--dataset", str(folder), "--out", str(tmp_path / "out")] + ARGS
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["processes"] == 2
    assert result["validation_images"] == 8
    checksums = {json.loads(p.read_text())["checksum"] for p in (tmp_path / "out" / "ranks").glob("*.json")}
    assert len(list((tmp_path / "out" / "ranks").glob("*.json"))) == 2
    assert checksums == {result["checksum"]}, "DistributedDataParallel keeps every process's weights equal"
    assert result["checksum_before"] != result["checksum"], "training moved the weights"
