"""Progressive hints for a stuck learner: from a nudge to the approach, never the answer.

The hints are data, one TOML file per module in ``datasets/course/hints/``, keyed by
exercise id: ``hints = [...]`` (two or three), and for a written answer, graded by hand,
``written = "<grade_id>"``, the id of its cell in the source notebook. Every exercise of
the registry (:func:`grading.harness.exercises`) and every written answer of the course has
an entry (``tests/test_hints.py``), so a new exercise gets its hints by adding data.

In a notebook ``hint("01-minimal-extract")`` shows the next hint not yet taken (called
again, the one after; when all are taken it says so and lists them); ``privacy-course hint
EXERCISE`` does the same through :func:`take_hint`. Each hint taken is recorded, with its
time, in the learner's progress file (:func:`grading.selfcheck.record_hint`), where
``privacy-course progress`` shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import CourseError

HINTS_DIR = DATASETS / "course" / "hints"
MIN_HINTS, MAX_HINTS = 2, 3
_LEARNER_ID = re.compile(r"^\d\d-[a-z0-9-]+$")
"""Exercise ids a learner meets: ``NN-name`` (tests register others, e.g. ``test-loop``)."""


@dataclass(frozen=True)
class HintEntry:
    """The hints of one exercise; ``written`` is the grade id of a written answer's cell."""

    exercise_id: str
    hints: tuple[str, ...]
    written: str | None = None
    file: str = ""


@cache
def _load(folder: Path) -> dict[str, HintEntry]:
    found: dict[str, HintEntry] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        for ex_id, entry in read_toml(path, CourseError, "hints file").items():
            where = f"{path.name} [{ex_id!r}]"
            if ex_id in found:
                raise CourseError(f"{where}: also in {found[ex_id].file}")
            if not isinstance(entry, dict):
                raise CourseError(f"{where}: not a table")
            hints = entry.get("hints")
            if (not isinstance(hints, list) or not all(isinstance(h, str) and h.strip()
                                                       for h in hints)
                    or not MIN_HINTS <= len(hints) <= MAX_HINTS):
                raise CourseError(f"{where}: `hints` must be {MIN_HINTS} to {MAX_HINTS} texts")
            written = entry.get("written")
            if written is not None and not isinstance(written, str):
                raise CourseError(f"{where}: `written` must be a cell's grade id")
            unknown = set(entry) - {"hints", "written"}
            if unknown:
                raise CourseError(f"{where}: unknown keys {sorted(unknown)}")
            found[ex_id] = HintEntry(ex_id, tuple(" ".join(h.split()) for h in hints),
                                     written, path.name)
    return found


def all_hints(folder: Path | None = None) -> dict[str, HintEntry]:
    """Every hint entry, by exercise id (validated; errors name the file and key)."""
    return dict(_load(Path(folder or HINTS_DIR)))


def written_answers(folder: Path | None = None) -> dict[str, str]:
    """Exercise id -> grade id of each written (hand-graded) answer."""
    return {k: e.written for k, e in all_hints(folder).items() if e.written}


def learner_exercises() -> list[str]:
    """The ids a learner can ask hints and solutions for: the registry's graded exercises
    (``NN-name``) and the written answers."""
    from grading.harness import exercises

    ids = [i for i in exercises() if _LEARNER_ID.match(i)]
    return sorted(set(ids) | set(written_answers()))


def hints_for(exercise_id: str) -> tuple[str, ...]:
    """The hints of one exercise, in order; an unknown id is a clear error."""
    entries = all_hints()
    if exercise_id not in entries:
        known = learner_exercises()
        raise CourseError(f"no hints for {exercise_id!r} (exercises: {', '.join(known)})")
    return entries[exercise_id].hints


@dataclass(frozen=True)
class Shown:
    """Text for the learner: printed by the CLI, rendered as Markdown in a notebook."""

    text: str
    ok: bool = True

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return self.text


_TAKEN_HERE: dict[str, int] = {}
"""Hints taken outside a workspace (no progress file): remembered for this process only."""


def take_hint(exercise_id: str, progress: Path | None = None) -> Shown:
    """Show the next hint not yet taken and record it; when all are taken, say so and list
    them. ``progress`` is the progress file (default: the learner's, if any)."""
    from grading.selfcheck import progress_path, record_hint

    hints = hints_for(exercise_id)
    path = progress or progress_path()
    if path is None:
        number = _TAKEN_HERE.get(exercise_id, 0) + 1
        if number <= len(hints):
            _TAKEN_HERE[exercise_id] = number
    else:
        number = record_hint(exercise_id, len(hints), path)
    if number > len(hints):
        return Shown(_all_taken(exercise_id, hints), ok=False)
    more = ("" if number == len(hints) else
            f" Still stuck? `hint({exercise_id!r})` again gives hint {number + 1}.")
    return Shown(f"**Hint {number} of {len(hints)} for {exercise_id}.** "
                 f"{hints[number - 1]}\n\n*{more.strip() or 'That was the last hint.'}*")


def taken_hints(exercise_id: str, progress: Path | None = None) -> Shown:
    """The hints already taken for one exercise, without taking another."""
    from grading.selfcheck import hints_taken, progress_path

    hints = hints_for(exercise_id)
    path = progress or progress_path()
    count = (_TAKEN_HERE.get(exercise_id, 0) if path is None
             else len(hints_taken(path).get(exercise_id, [])))
    if not count:
        return Shown(f"No hints taken yet for {exercise_id} ({len(hints)} available).", ok=False)
    lines = [f"**Hints taken for {exercise_id}: {count} of {len(hints)}.**", ""]
    lines += [f"{n}. {h}" for n, h in enumerate(hints[:count], 1)]
    return Shown("\n".join(lines))


def _all_taken(exercise_id: str, hints: tuple[str, ...]) -> str:
    lines = [f"**You have taken all {len(hints)} hints for {exercise_id}.** Here they are "
             "again; after your self-check passes, `solution(...)` shows the model "
             "solution.", ""]
    lines += [f"{n}. {h}" for n, h in enumerate(hints, 1)]
    return "\n".join(lines)


def hint(exercise_id: str) -> Shown:
    """In a notebook: the next hint for ``exercise_id`` (put it last in a cell)."""
    return take_hint(exercise_id)
