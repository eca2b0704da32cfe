"""The learner's progress: which exercises pass, kept in a JSON file that survives a restart.

The file's path comes from ``$PRIVACY_COURSE_PROGRESS`` (set by ``privacy-course start``);
otherwise it is ``.privacy-course/progress.json`` in the nearest workspace above the current
directory (a folder holding ``.privacy-course/``). Outside a workspace, e.g. while nbgrader
autogrades a submission, nothing is recorded. Writes are atomic (temp file + rename); a
corrupt file is set aside as ``progress.json.corrupt`` and progress starts afresh; a lock
file serialises two kernels recording at the same moment. Hints taken (:mod:`grading.hints`)
are kept in the same file, under ``"hints"``, with the time each was taken.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROGRESS_ENV = "PRIVACY_COURSE_PROGRESS"
WORKSPACE_MARKER = ".privacy-course"
PROGRESS_NAME = "progress.json"
FORMAT_VERSION = 1


def progress_path(start: Path | None = None) -> Path | None:
    """Where progress is recorded, or None outside a workspace."""
    env = os.environ.get(PROGRESS_ENV)
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / WORKSPACE_MARKER).is_dir():
            return folder / WORKSPACE_MARKER / PROGRESS_NAME
    return None


def load_progress(path: Path | None = None) -> dict[str, Any]:
    """The progress document; an absent file is empty progress, a corrupt one is set aside."""
    path = path or progress_path()
    empty: dict[str, Any] = {"version": FORMAT_VERSION, "exercises": {}}
    if path is None or not path.exists():
        return empty
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
            raise ValueError("not a progress document")
    except (OSError, ValueError, UnicodeDecodeError):
        with contextlib.suppress(OSError):
            path.replace(path.with_name(path.name + ".corrupt"))
        return empty
    return data


def save_progress(data: dict[str, Any], path: Path) -> None:
    """Write the progress document atomically (a crash leaves the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def record_outcome(outcome: Any, path: Path | None = None) -> Path | None:
    """Record one graded attempt (an ``Outcome``); returns the file written, if any."""
    path = path or progress_path()
    if path is None:
        return None
    try:
        with _locked(path):
            return _record(outcome, path)
    except OSError:
        return None  # a read-only workspace must not break the learner's check


def _record(outcome: Any, path: Path) -> Path:
    data = load_progress(path)
    entry = data["exercises"].setdefault(outcome.exercise_id, {})
    previous = entry.get(outcome.variant, {})
    entry[outcome.variant] = {
        "passed": outcome.passed,
        "message": outcome.message,
        "principle": outcome.principle,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "attempts": int(previous.get("attempts", 0)) + 1,
        "ever_passed": bool(previous.get("ever_passed")) or outcome.passed,
    }
    save_progress(data, path)
    return path


def record_hint(exercise_id: str, available: int, path: Path) -> int:
    """Take the next of ``available`` hints of an exercise: record its number and time
    (under ``"hints"``) and return it; ``available + 1`` when all were taken already (then
    nothing is recorded). Without a writable file the hint is still shown (returns 1)."""
    try:
        with _locked(path):
            data = load_progress(path)
            taken = data.setdefault("hints", {}).setdefault(exercise_id, [])
            number = len(taken) + 1
            if number <= available:
                taken.append({"hint": number,
                              "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
                save_progress(data, path)
            return number
    except OSError:
        return 1  # a read-only workspace must not keep a stuck learner from their hint


def hints_taken(path: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Exercise id -> the hints taken (number and time), from the progress file."""
    return _hints_in(load_progress(path))


def _hints_in(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    hints = document.get("hints")
    if not isinstance(hints, dict):
        return {}
    return {k: v for k, v in hints.items() if isinstance(v, list)}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write between kernels (two notebooks checking at once)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic write still protects the file itself
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def progress_rows(path: Path | None = None) -> list[dict[str, Any]]:
    """One row per known exercise: id, title, points, status, last message and the number
    of hints taken."""
    from grading.harness import exercises

    document = load_progress(path)
    data = document["exercises"]
    taken = _hints_in(document)
    rows = []
    for ex_id, ex in exercises().items():
        last = data.get(ex_id, {}).get("visible")
        status = "not tried" if last is None else ("passed" if last["passed"] else "failed")
        rows.append(
            {"id": ex_id, "title": ex.title, "points": ex.points, "status": status,
             "message": "" if last is None or last["passed"] else last["message"],
             "hints": len(taken.get(ex_id, []))}
        )
    for ex_id in sorted(set(data) - {r["id"] for r in rows}):
        last = data[ex_id].get("visible") or {}
        rows.append({"id": ex_id, "title": "(unknown exercise)", "points": 0,
                     "status": "passed" if last.get("passed") else "failed",
                     "message": last.get("message", ""), "hints": len(taken.get(ex_id, []))})
    return rows
