"""Grading for the privacy course: policy checks, exercise harness, nbgrader wiring.

In a notebook: ``from grading import check; check("00-newsletter-consent", my_function)``.
"""

from grading.checks import PrincipleViolation
from grading.harness import Attempt, Exercise, Outcome, Variant, check, get_exercise, register, run

__all__ = [
    "Attempt",
    "Exercise",
    "Outcome",
    "PrincipleViolation",
    "Variant",
    "check",
    "get_exercise",
    "register",
    "run",
]
