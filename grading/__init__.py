"""Grading for the privacy course: policy checks, exercise harness, nbgrader wiring."""
