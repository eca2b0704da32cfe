"""The principles a failing grade can name, read from ``datasets/grading/principles.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import CourseError

PRINCIPLES_FILE = DATASETS / "grading" / "principles.toml"


@dataclass(frozen=True)
class Principle:
    """One principle: its key (``consent``), title, default article and one-line rule."""

    key: str
    title: str
    article: str
    rule: str


def load_principles(path: Path = PRINCIPLES_FILE) -> dict[str, Principle]:
    """Read and validate the principles file; errors name the file and key."""
    raw = read_toml(path, CourseError, "principles file")
    principles = {}
    for key, table in raw.items():
        if not isinstance(table, dict):
            raise CourseError(f"{path}: key '{key}' must be a table ([{key}])")
        for field in ("title", "article", "rule"):
            value = table.get(field)
            if not isinstance(value, str) or not value.strip():
                raise CourseError(f"{path}: key '{key}.{field}' must be a non-empty string")
        principles[key] = Principle(key, table["title"], table["article"], table["rule"])
    return principles


@cache
def principles() -> dict[str, Principle]:
    """The shipped principles (cached)."""
    return load_principles()


def principle(key: str) -> Principle:
    """One principle by key; an unknown key is a programming error in an exercise."""
    known = principles()
    if key not in known:
        raise CourseError(f"unknown principle {key!r} (known: {', '.join(sorted(known))})")
    return known[key]
