"""Reproducible performance measurements (not tests). Run all with ``make bench``."""
