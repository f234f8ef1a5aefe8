"""What every self-check answers with (`Verdict`), and the helpers the checks share."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..evidence import MARGIN


@dataclass
class Verdict:
    """What a check says: `right`, and a message (why it is right, or a hint). A prediction's
    verdict (`prediction=True`) says whether the measurement went the predicted way."""
    right: bool
    message: str
    prediction: bool = False

    def __bool__(self) -> bool:
        return self.right

    def __repr__(self) -> str:
        if self.prediction:
            return ("✓ As you predicted. " if self.right else "✗ Not as you predicted. ") + self.message
        return ("✓ Right. " if self.right else "✗ Not yet. ") + self.message


DIRECTIONS = ("higher", "lower", "level")


def direction(measured: float, reference: float, margin: float = MARGIN) -> str:
    """"level" when two accuracies are within `margin` (the course's 2 points), else which way."""
    gap = float(measured) - float(reference)
    # (+1e-9: in floating point 0.73 - 0.75 is -0.0200000000000000018, which is 2 points)
    return "level" if abs(gap) <= margin + 1e-9 else ("higher" if gap > 0 else "lower")


def check_prediction(prediction, measured: float, reference: float, what: str, why: str = "") -> Verdict:
    """A "predict, then measure" exercise: was `measured` higher than, lower than or level with
    `reference`, as `prediction` said? `what` names the two figures (e.g. "stage2 against the
    last layer"); `why` is said after the learner has predicted, whatever the outcome. Until a
    prediction is written the check shows nothing of the measurement."""
    if prediction is None:
        return unanswered(f'write "higher", "lower" or "level" (within {MARGIN * 100:.0f} points) '
                          "before you run the measurement, then run it and this check.")
    if prediction not in DIRECTIONS:
        return Verdict(False, f"Predict one of {', '.join(map(repr, DIRECTIONS))}, not {prediction!r}.")
    found = direction(measured, reference)
    said = f"This run measured {what}: {measured:.3f} against {reference:.3f}, so {found}."
    return Verdict(prediction == found, " ".join(filter(None, [said, why])), prediction=True)


def unanswered(hint: str) -> Verdict:
    return Verdict(False, "Replace None with your answer, then run this cell again. Hint: " + hint)


def attempt(function, hint: str, *args):
    """Call a function the learner wrote: (its value, None), or (None, a verdict) when it raised
    or still returns None."""
    try:
        value = function(*args)
    except Exception as error:   # the learner's code: report any failure as a hint
        return None, Verdict(False, f"Your function raised {type(error).__name__}: {error}. Hint: {hint}")
    return value, (unanswered(hint) if value is None else None)


def close(a, b, rtol: float = 1e-3, atol: float = 1e-6) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol))
