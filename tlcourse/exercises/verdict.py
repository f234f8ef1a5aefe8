"""What every self-check answers with (`Verdict`), and the helpers the checks share."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Verdict:
    """What a check says: `right`, and a message (why it is right, or a hint)."""
    right: bool
    message: str

    def __bool__(self) -> bool:
        return self.right

    def __repr__(self) -> str:
        return ("✓ Right. " if self.right else "✗ Not yet. ") + self.message


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
