"""Every number and string the public API takes is checked where it enters (tlcourse/checks.py).

The functions: everything in `tlcourse.__all__` and every library function or class a course
or solution notebook calls (found in the notebooks' code, so a new call is covered the day it
is written). For each, every parameter whose default or annotation is a number or a string
must have a rule, and the rule must hold: fed 0, -1, a string for a number, NaN, a number for
a string or an unknown name, the call fails within a second with an error that names the
parameter, before it reads any other argument (they are None here).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import math
import time
from pathlib import Path

import pytest

import tlcourse
from tlcourse import checks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
SCALARS = {"int", "float", "str"}

# Parameters for which 0 is a meaningful value; for every other numeric parameter 0 must fail.
# (A rule that lets 0 through where it means nothing, e.g. size=whole(0), makes this test fail.)
ZERO_IS_FINE = {"seed", "freeze_epochs", "extra", "digits", "alpha", "weight", "strength", "coral_weight",
                "dann_weight", "seconds", "max_bytes", "skip_end", "query"}


def _called_names(path: Path) -> set[str]:
    """Dotted names (tlcourse.module.function) that a notebook's code calls."""
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    tree = ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = getattr(node, "module", None)
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                if full.startswith("tlcourse"):
                    aliases[alias.asname or alias.name] = full
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name) and func.id in aliases:
                names.add(".".join([aliases[func.id], *reversed(parts)]))
    return names


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _public_functions() -> dict:
    found = {f"tlcourse.{name}": getattr(tlcourse, name) for name in tlcourse.__all__}
    for path in NOTEBOOKS:
        for dotted in _called_names(path):
            found.setdefault(dotted, _resolve(dotted))
    return {name: obj for name, obj in sorted(found.items())
            if inspect.isfunction(obj) or (inspect.isclass(obj) and obj.__module__.startswith("tlcourse"))}


FUNCTIONS = _public_functions()


def _entry(obj):
    """The callable whose arguments are checked: a class's __init__, else the function."""
    return obj.__init__ if inspect.isclass(obj) else obj


def _is_scalar(parameter: inspect.Parameter) -> bool:
    if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
        return False
    default = parameter.default
    if default is not inspect.Parameter.empty and type(default) in (int, float, str):
        return True
    annotation = parameter.annotation
    kinds = {part.strip() for part in str(annotation).split("|")} - {"None"} if isinstance(annotation, str) else set()
    return bool(kinds) and kinds <= SCALARS


def _scalar_parameters():
    for name, obj in FUNCTIONS.items():
        for parameter in list(inspect.signature(_entry(obj)).parameters.values()):
            if _is_scalar(parameter):
                yield name, parameter.name


def _rules(obj) -> dict:
    return getattr(_entry(obj), "__checks__", {})


def _good(rule: checks.Rule):
    """A value the rule accepts, for the other required parameters of a call."""
    if rule.kind == "text":
        return "x"
    if rule.kind == "choice":
        return next(iter(rule.choices()))
    low = 0 if rule.low is None else rule.low
    return (low + 1 if rule.low_open or rule.kind == "whole" else low) if rule.high is None else rule.high


def _bad_values(parameter: str, rule: checks.Rule) -> list:
    if rule.kind in ("text", "choice"):
        return [3] + (["no such name"] if rule.kind == "choice" else [])
    values = ["3", -1] + ([] if rule.nan else [math.nan])   # (NaN is "not measured" where a rule says so)
    if parameter not in ZERO_IS_FINE and rule is not checks.ACCURACY:
        values.append(0)
    if rule.kind == "whole":
        values.append(2.5)
    return values


def test_the_functions_are_found():
    # the notebooks' calls are found: a handful from several modules
    for name in ("tlcourse.get_dls", "tlcourse.training.fine_tune", "tlcourse.features.linear_probe",
                 "tlcourse.layerwise.L2SP", "tlcourse.text.embed_texts", "tlcourse.efficient.run_method"):
        assert name in FUNCTIONS
    assert len(FUNCTIONS) > 60


SCALAR_PARAMETERS = list(_scalar_parameters())


@pytest.mark.parametrize("function, parameter", SCALAR_PARAMETERS, ids=[f"{f}-{p}" for f, p in SCALAR_PARAMETERS])
def test_every_number_and_string_has_a_rule(function, parameter):
    assert parameter in _rules(FUNCTIONS[function]), \
        f"{function}: give {parameter} a rule with @checks.checked({parameter}=...)"


CASES = [(function, parameter, value)
         for function, obj in FUNCTIONS.items()
         for parameter, rule in _rules(obj).items()
         for value in _bad_values(parameter, rule)]


@pytest.mark.parametrize("function, parameter, value", CASES, ids=[f"{f}-{p}={v!r}" for f, p, v in CASES])
def test_a_bad_value_fails_at_once_naming_the_parameter(function, parameter, value):
    obj = FUNCTIONS[function]
    rules = _rules(obj)
    signature = inspect.signature(_entry(obj))
    arguments = {}
    for name, p in signature.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name == parameter:
            arguments[name] = value
        elif p.default is inspect.Parameter.empty:
            arguments[name] = _good(rules[name]) if name in rules else None
    if rules[parameter].kind == "choice":
        list(rules[parameter].choices())   # a list of names may import its package (imagecorruptions): not the check's time
    start = time.perf_counter()
    with pytest.raises((TypeError, ValueError)) as raised:
        obj(**arguments)   # (a context manager, adapt.adabn, checks when it is called, before `with`)
    assert time.perf_counter() - start < 1.0
    said = str(raised.value)
    assert f"{parameter}=" in said and "must be" in said, said


def test_good_defaults_pass_their_own_rules():
    for function, obj in FUNCTIONS.items():
        for name, rule in _rules(obj).items():
            default = inspect.signature(_entry(obj)).parameters[name].default
            if default is not inspect.Parameter.empty:
                assert rule.problem(default) is None, f"{function}: the default {name}={default!r} breaks its rule"


@pytest.mark.parametrize("call, error", [
    (lambda items: tlcourse.split_items(items, n_per_class=0), ValueError),
    (lambda items: tlcourse.split_items(items, n_per_class=-1), ValueError),
    (lambda items: tlcourse.data.dls_from_items(items, bs=0), ValueError),
    (lambda items: tlcourse.data.dls_from_items(items, size="64"), TypeError),
], ids=["n_per_class=0", "n_per_class=-1", "bs=0", "size='64'"])
def test_what_a_new_user_tried(call, error):
    # The four slips found by trying the course as a new user; each used to fail late or not at all.
    import pandas as pd
    items = pd.DataFrame({"path": ["a.png"] * 4, "label": ["a", "a", "b", "b"], "is_valid": [False, True] * 2})
    with pytest.raises(error, match="must be"):
        call(items)


def test_rates_accept_what_fastai_reads():
    rule = checks.RATES
    for good in (1e-3, slice(1e-4, 1e-2), slice(1e-3), [1e-4, 1e-3, 1e-2], (1e-3,)):
        assert rule.problem(good) is None, good
    for bad in (0, -1e-3, slice(0, 1e-2), slice(None), [1e-3, "x"], [], "1e-3", math.inf):
        assert rule.problem(bad) is not None, bad


def test_the_message_says_what_to_pass():
    with pytest.raises(ValueError) as raised:
        tlcourse.get_dls("silhouettes", size=4)
    assert str(raised.value) == ("get_dls: size=4 (int), but size must be a whole number of at least 8 "
                                 "(the side of the square images, in pixels).")
    assert inspect.signature(tlcourse.get_dls).parameters["size"].default == 64   # help() shows the real signature


def test_nan_passes_only_where_it_means_not_measured():
    assert checks.number(0, nan=True).problem(float("nan")) is None
    assert checks.number(0).problem(float("nan")) is ValueError
    assert checks.number(0, nan=True).problem(-1.0) is ValueError
    assert checks.number(0, nan=True).problem(float("inf")) is ValueError
