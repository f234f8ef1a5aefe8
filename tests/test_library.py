"""The library's shape: small modules, no private name used across modules, and importing it
changes nothing beyond the documented thread policy."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "tlcourse").rglob("*.py"))
LIMIT = 300   # lines: a module a learner can read in one sitting


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_longer_than_a_sitting(path):
    lines = len(path.read_text().splitlines())
    assert lines <= LIMIT, f"{path.name} has {lines} lines; split it by what its parts are about"


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    package = {p.stem for p in MODULES} | {"tl", "tlcourse"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0 or (
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tlcourse")):
            found += [f"from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in package:
                found.append(f"{ast.unparse(node.value)}.{node.attr}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_crosses_a_module_boundary(path):
    assert _private_uses(path) == []


def test_the_check_finds_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .data import _secret\nimport tlcourse as tl\ntl.models._hidden()\n")
    assert _private_uses(bad) == ["from data import _secret", "tl.models._hidden"]


def test_importing_the_course_changes_no_environment_variable_and_no_library_setting():
    code = ("import os, json; before = dict(os.environ); import tlcourse; "
            "from transformers.utils import logging; from huggingface_hub import constants; "
            "tlcourse.text.load_encoder(); "
            "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)); "
            "print(json.dumps([changed, logging.is_progress_bar_enabled(), constants.HF_HUB_OFFLINE]))")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    changed, bars, offline = json.loads(out.strip().splitlines()[-1])
    assert changed == [] and bars is True and offline is False
