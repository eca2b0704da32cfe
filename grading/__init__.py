"""Grading for the privacy course: policy checks, exercise harness, nbgrader wiring.

In a notebook: ``from grading import check; check("00-newsletter-consent", my_function)``;
stuck, ``hint("00-newsletter-consent")``; after the check passes,
``solution("00-newsletter-consent")``.
"""

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
