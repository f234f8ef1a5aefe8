"""Arguments checked where they enter the library, before any work starts.

A learner's typo should fail at once with a sentence that names the parameter and says what to
pass, not minutes later deep inside pandas or torch (`n_per_class=0` used to end in an
IndexError; `bs=0` was accepted). Each public function declares a rule for every number and
string it takes:

    @checked(size=SIZE, bs=whole(1), valid_pct=number(0, 1, low_open=True, high_open=True))
    def get_dls(name, size=64, ..., bs=32): ...

and the rules run when it is called (a wrong type is a TypeError, a value out of range a
ValueError). Only the arguments passed are checked: the defaults are known to be good.
tests/test_checks.py feeds every rule of every function the course calls bad values (0, -1, a
string for a number, NaN) and expects its error within a second; the README's table of error
messages shows some (README, "When something is wrong").
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Iterable


@dataclass(frozen=True)
class Rule:
    """What one parameter accepts: a kind (a whole number, a number, text or one of some
    choices), a range for numbers, and whether None means "not given"."""
    kind: str                                   # "whole", "number", "rates", "text" or "choice"
    low: float | None = None
    high: float | None = None
    low_open: bool = False                      # low itself is not allowed
    high_open: bool = False
    optional: bool = False                      # None is allowed
    choices: Callable[[], Iterable[str]] | None = field(default=None, compare=False)
    hint: str = ""                              # what the value means, for the message
    words: tuple[str, ...] = ()                 # strings a number may also be (C="cv")
    nan: bool = False                           # NaN is allowed: "not measured" (a duration)

    def need(self) -> str:
        """What the parameter needs, in words: the second half of every message."""
        if self.kind == "text":
            what = "a string"
        elif self.kind == "choice":
            what = "one of " + ", ".join(map(repr, self.choices()))
        else:
            what = {"whole": "a whole number", "number": "a number",
                    "rates": "a learning rate, a slice(lo, hi) of two or a list of them, each"}[self.kind]
            if self.low is not None and self.high is not None:
                what += f" {'above' if self.low_open else 'from'} {self.low:g} " \
                        f"{'and below' if self.high_open else 'to'} {self.high:g}"
            elif self.low is not None:
                what += f" {'above' if self.low_open else 'of at least'} {self.low:g}"
        if self.words:
            what += ", or " + ", ".join(map(repr, self.words))
        if self.nan:
            what += ", or NaN (not measured)"
        if self.optional:
            what += ", or None"
        return what + (f" ({self.hint})" if self.hint else "")

    def problem(self, value) -> type[Exception] | None:
        """The error `value` deserves (TypeError, ValueError), or None when it is fine."""
        if value is None:
            return None if self.optional else TypeError
        if isinstance(value, str) and value in self.words:
            return None
        if self.kind in ("text", "choice"):
            if not isinstance(value, str):
                return TypeError
            return ValueError if self.kind == "choice" and value not in set(self.choices()) else None
        if self.kind == "rates" and isinstance(value, (slice, list, tuple)):
            # slice(hi) and slice(lo, hi) as fastai reads them; a list: one rate per layer group
            parts = [v for v in (value.start, value.stop) if v is not None] if isinstance(value, slice) else list(value)
            return next((error for error in map(self.problem, parts) if error), None if parts else TypeError)
        numeric = numbers.Integral if self.kind == "whole" else numbers.Real
        if isinstance(value, bool) or not isinstance(value, numeric):
            return TypeError
        if not math.isfinite(value):
            return None if self.nan and math.isnan(value) else ValueError
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return ValueError
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return ValueError
        return None


def whole(low: int | None = None, high: int | None = None, optional: bool = False, hint: str = "") -> Rule:
    """A whole number (a bool is not one), at least `low`, at most `high`."""
    return Rule("whole", low, high, optional=optional, hint=hint)


def number(low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False, optional: bool = False, hint: str = "", nan: bool = False) -> Rule:
    """A finite real number in a range; `low_open` leaves `low` itself out (a rate above 0);
    `nan=True` also lets NaN through, where it means "not measured"."""
    return Rule("number", low, high, low_open, high_open, optional, hint=hint, nan=nan)


def text(optional: bool = False) -> Rule:
    """Any string: a label, a title."""
    return Rule("text", optional=optional)


def choice(options: Callable[[], Iterable[str]] | Iterable[str], optional: bool = False, hint: str = "") -> Rule:
    """One of some names; `options` may be a function, read when the check runs, so a
    registry that grows later (backbones, datasets) is always current."""
    if not callable(options):
        fixed = tuple(options)
        options = lambda: fixed  # noqa: E731
    return Rule("choice", optional=optional, choices=options, hint=hint)


# The rules many functions share.
SEED = whole(0, hint="any whole number; the same seed gives the same run")
OPTIONAL_SEED = whole(0, optional=True, hint="None leaves the random state as it is")
SIZE = whole(8, hint="the side of the square images, in pixels")
BATCH = whole(1, hint="images per batch")
EPOCHS = whole(1, hint="passes over the training set")
RATE = number(0, low_open=True, hint="a learning rate such as 1e-3")
ACCURACY = number(0, 1, hint="a share of images, 0 to 1")
RATES = Rule("rates", 0, low_open=True, hint="one rate for every layer, or one per layer group")
TITLE = text()


def checked(**rules: Rule):
    """Check the named arguments against their rules each time the function is called.

    The rules are kept on the function as `__checks__`, where the tests find them."""
    def decorate(function):
        signature = inspect.signature(function)
        unknown = set(rules) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{function.__qualname__} has no parameter(s) {sorted(unknown)} to check.")
        where = function.__qualname__.replace(".__init__", "")

        @functools.wraps(function)
        def call(*args, **kwargs):
            try:
                given = signature.bind(*args, **kwargs).arguments
            except TypeError:
                return function(*args, **kwargs)    # a missing or unknown argument: Python's own error
            for name, rule in rules.items():
                if name in given:
                    error = rule.problem(given[name])
                    if error:
                        value = given[name]
                        raise error(f"{where}: {name}={value!r} ({type(value).__name__}), "
                                    f"but {name} must be {rule.need()}.")
            return function(*args, **kwargs)

        call.__checks__ = rules
        return call
    return decorate
