"""Grading for the privacy course: policy checks, exercise harness, nbgrader wiring.

In a notebook: ``from grading import check; check("00-newsletter-consent", my_function)``;
stuck, ``hint("00-newsletter-consent")``; after the check passes,
``solution("00-newsletter-consent")``.
"""

from grading import harness as _harness
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

# Every check's outcome goes into the learner's progress file: wired here, above both, so
# the harness never imports the self-check that reads its registry.
_harness.OUTCOME_LISTENERS.append(lambda outcome: _selfcheck.record_outcome(outcome))
