"""Bad input across the public API: each case of the README's table of error messages
(tlcourse/maintain/errors.py) fails at once with an error that says what is wrong and what to
do, and the README's table is what the library says now
(regenerate it: `.venv/bin/python -m tlcourse.maintain.errors`).
"""
import pytest

from tlcourse.maintain.errors import CASES, END, ROOT, START, message, table


@pytest.mark.parametrize("shown, call, error", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_at_once_with_a_message(shown, call, error):
    said = message(call, error)
    assert len(said) > 20 and " " in said, said   # a sentence, not a bare value


def test_a_call_that_does_not_fail_is_reported():
    with pytest.raises(AssertionError, match="did not raise ValueError"):
        message(lambda: None, ValueError)


def test_the_readme_table_says_what_the_library_says():
    readme = (ROOT / "README.md").read_text()
    committed = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert committed == table(), "regenerate it: .venv/bin/python -m tlcourse.maintain.errors"
