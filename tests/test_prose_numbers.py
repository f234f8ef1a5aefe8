"""Every number typed in a notebook's or a solution's prose is one the notebook shows.

A number in a markdown cell must equal, to its printed digits, a number the same notebook shows:
in an output (its printed figures and its "How sure are we?" tables of the runs of the course's
evidence), in its code (the parameters cell and every other cell a learner reads), as a share
(0.705 is "70.5 %" or "70 points"), or in millions ("3.4 million"). Numbers quoted from papers,
and the few other exemptions, are listed once in docs/quoted_numbers.md with their source.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest

from tlcourse.maintain import evidence as making

ROOT = Path(__file__).parents[1]
DOCUMENTS = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")) + sorted(ROOT.glob("solutions/[0-9][0-9]_*.ipynb"))

NUMBER = re.compile(r"(?<![\w.\-/#@])([-−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(e[-+]?\d+)?(?![\w])(\s?(?:%|million))?")
# Context that makes a number a name rather than a measurement: "section 3", "exercise 2", a year.
NAMES = re.compile(r"(section|sections|exercise|exercises|part|parts|step|notebook|notebooks|chapter|figure|"
                   r"question|cell|cells|item|table|level|^#+ (Solutions ·)?)\s*$", re.IGNORECASE)   # a title's notebook number


def _strip(markdown: str) -> str:
    markdown = re.sub(r"<!--.*?-->", " ", markdown, flags=re.S)
    markdown = re.sub(r"\]\([^)]*\)", "]", markdown)          # link targets
    markdown = re.sub(r"https?://\S+", " ", markdown)
    return markdown


ENUMERATION = re.compile(r"(?m)^[ \t]*(?:#+[ \t]*)?\d+[.)][ \t]")
# The opening cell's estimate of how long a learner takes to read it ("20-30 minutes to read and try"):
# an estimate, not a measurement (the instructor guide's table holds the measured run times).
DURATION = re.compile(r"^(?:\s*[–-]\s*\d+)?\s*minutes to read")
# Code a learner is invited to type instead ("try `size = 96`"), in "What to try next", the exercises and
# the description of the parameters (`mode = "full"`).
SUGGESTION_SECTIONS = re.compile(r"^#+ .*(What to try next|Exercise|Parameters)", re.IGNORECASE | re.MULTILINE)


def typed(markdown: str, opening: bool = False):
    """The numbers in `markdown`: (text as typed, value, decimals, scale, scientific, context)."""
    text = _strip(markdown)
    enumerations = {m.end() - 3 for m in ENUMERATION.finditer(text)} | {m.end() - 2 for m in ENUMERATION.finditer(text)}
    for match in NUMBER.finditer(text):
        sign, whole, fraction, exponent, unit = match.groups()
        before = text[max(0, match.start() - 30):match.start()]
        if NAMES.search(before) or match.start() in enumerations:
            continue
        if opening and DURATION.match(text[match.end():]):
            continue
        value = float(whole.replace(",", "") + (fraction or "") + (exponent or ""))
        if not fraction and not exponent and not unit and 1900 <= value <= 2099:
            continue   # a year
        decimals = len(fraction) - 1 if fraction else 0
        scale = 1e6 if unit and "million" in unit else 1.0
        context = text[max(0, match.start() - 60):match.end() + 40].replace("\n", " ")
        yield match.group(0).strip(), value, decimals, scale, exponent is not None, context


def shown(nb) -> set[float]:
    """Every number a notebook shows a learner: in its outputs and in its code."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts.append(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append(output["text"])
            for kind in ("text/plain", "text/html", "text/markdown"):
                texts.append(output.get("data", {}).get(kind, ""))
    values = set()
    for text in texts:
        text = "".join(text) if isinstance(text, list) else text
        for match in re.finditer(r"\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?", text):
            try:
                values.add(float(match.group(0).replace(",", "")))
            except ValueError:
                pass
    return values


def _matches(value: float, decimals: int, scale: float, scientific: bool, values: set[float]) -> bool:
    for v in values:
        if scientific:
            if math.isclose(v, value, rel_tol=1e-9):
                return True
            continue
        for factor in (1.0, 100.0):          # a figure, or the same figure as a share
            if abs(v * factor / scale - value) <= 0.5 * 10 ** -decimals + 1e-9:   # rounded to the typed digits
                return True
    return False


def exempt() -> dict[str, set[str]]:
    """docs/quoted_numbers.md: one row per number quoted from elsewhere, with its source."""
    table: dict[str, set[str]] = {}
    for line in (ROOT / "docs" / "quoted_numbers.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0] not in ("where", "---"):
            if not cells[2]:
                raise AssertionError(f"docs/quoted_numbers.md: {cells[1]} in {cells[0]} names no source")
            table.setdefault(cells[0], set()).add(cells[1])
    return table


def prose(nb):
    """The markdown cells, each with whether it sits in a section of suggestions (the last heading so far
    is "What to try next", an exercise or the parameters' description)."""
    suggesting = False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        headings = re.findall(r"(?m)^#+ .*$", cell.source)
        if headings:
            suggesting = bool(SUGGESTION_SECTIONS.search(headings[-1]))
        yield cell, suggesting


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_number_in_the_prose_is_shown_by_the_notebook(path):
    nb = nbformat.read(path, as_version=4)
    values = shown(nb)
    allowed = exempt()
    where = f"{path.parent.name}/{path.stem}"
    unknown = []
    for index, (cell, suggesting) in enumerate(prose(nb)):
        source = cell.source
        if suggesting:
            source = re.sub(r"`[^`]*=[^`]*`", " ", source)   # code to try, not a claim
        for text, value, decimals, scale, scientific, context in typed(source, opening=index == 0):
            if text.lstrip("-−") in allowed.get(where, set()) | allowed.get("*", set()):
                continue
            if not _matches(abs(value), decimals, scale, scientific, values):
                unknown.append(f"{text!r} in: ...{context}...")
    assert not unknown, (f"{where}: numbers typed in the prose that the notebook does not show (state the "
                         "relation instead, print the figure, or list a quoted number in docs/quoted_numbers.md):\n  "
                         + "\n  ".join(unknown))


def test_the_number_reader_finds_numbers_and_skips_names():
    assert [t[0] for t in typed("## 6. Six\n1. first 7 items\nabout 2 minutes to run; 20–30 minutes to read",
                                opening=True)] == ["7", "2"]
    found = [t[0] for t in typed("Transfer scored 0.705 (70.5 %), resnet18 took 3.4 million steps in section 3 "
                                 "in 2018, lr 1e-3, 1,280 features, see [this](https://x.org/a/12) #12")]
    assert found == ["0.705", "70.5 %", "3.4 million", "1e-3", "1,280"]
    assert _matches(70.5, 1, 1.0, False, {0.705}) and _matches(0.71, 2, 1.0, False, {0.7071})
    assert not _matches(0.72, 2, 1.0, False, {0.705})
    assert _matches(3.4, 1, 1e6, False, {3401872.0})


def hyperparameter_mismatches(nb) -> list[str]:
    """`lr = 2e-3` in the prose (outside "What to try next", the exercises and the parameters' description,
    and not after "try") that is not the parameters cell's value."""
    import ast
    parameters = making.parameters(nb)
    wrong = []
    for cell, suggesting in prose(nb):
        if suggesting:
            continue
        for match in re.finditer(r"`(\w+)\s*=\s*([^`]+)`", cell.source):
            name, value = match.groups()
            if name not in parameters or re.search(r"\btry\s*$", cell.source[:match.start()]):
                continue   # not a parameter, or another value to try
            try:
                typed_value = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                continue
            if typed_value != parameters[name]:
                wrong.append(f"`{name} = {value}` in the prose, {parameters[name]!r} in the parameters cell")
    return wrong


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_hyperparameters_named_in_the_prose_match_the_parameters_cell(path):
    wrong = hyperparameter_mismatches(nbformat.read(path, as_version=4))
    assert not wrong, f"{path.name}:\n  " + "\n  ".join(wrong)


def test_a_wrong_hyperparameter_in_the_prose_is_found():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell("lr = 1e-2\nseed = 0", metadata={"tags": ["parameters"]}),
                             new_markdown_cell("## 1. Training\nWe train with `lr = 1e-3`; try `lr = 3e-2`."),
                             new_markdown_cell("## What to try next\nSet `lr = 1e-1`.")])
    assert hyperparameter_mismatches(nb) == ["`lr = 1e-3` in the prose, 0.01 in the parameters cell"]
