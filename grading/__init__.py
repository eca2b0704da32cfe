"""Grading for the privacy course: policy checks, exercise harness, nbgrader wiring.

In a notebook: ``from grading import check; check("00-newsletter-consent", my_function)``;
stuck, ``hint("00-newsletter-consent")``; after the check passes,
``solution("00-newsletter-consent")``.
"""

from typing import Any as _Any

from grading import exercises as _exercises
from grading import harness as _harness
from grading import receipts as _receipts
from grading import selfcheck as _selfcheck
from grading.checks import PrincipleViolation
from grading.harness import Attempt, Exercise, Outcome, Variant, check, get_exercise, register, run
from grading.hints import hint
from grading.solutions import solution

__all__ = [
    "Attempt",
    "Exercise",
    "Outcome",
    "PrincipleViolation",
    "Variant",
    "check",
    "get_exercise",
    "hint",
    "register",
    "run",
    "solution",
]

# The parts are wired here, above them, so that the harness imports none of the modules that
# build on it: the exercise modules fill its registry, an attempt runs with a receipt while
# autograding, and every check's outcome goes into the learner's progress file.
_harness.EXERCISE_LOADERS.append(lambda: _exercises.load_all())


def _with_receipt(exercise_id: str, fn: _Any, variant: str) -> Outcome | None:
    folder = _receipts.receipts_folder()
    if folder is None:
        return None
    return _receipts.run_with_receipt(exercise_id, fn, variant, folder)


_harness.ATTEMPT_RUNNERS.append(_with_receipt)
_harness.OUTCOME_LISTENERS.append(lambda outcome: _selfcheck.record_outcome(outcome))
