"""Receipts: the grade of a test cell decided where the learner's kernel cannot forge it.

During ``privacy-course grade`` the learner's cells and the locked test cells run in one
kernel, which the learner controls: a solution cell can replace ``check``, patch the
harness or swallow a :class:`PrincipleViolation`. So in autograding a test cell's
``check()`` does not have the last word. It leaves a *receipt* in a folder the grading
process chose for this run (``$PRIVACY_COURSE_RECEIPTS``): the attempt's folder (its
sandbox and any files the learner's function wrote there, kept), the value the function
returned (serialised as data, never pickled), what the harness noted while it ran (audit
range and witness hashes) and the kernel's own verdict.

Right after the test cell, the grading process (``grading.preprocessors.VerifiedExecute``,
outside the kernel) re-checks each receipt with :func:`recheck`: it prepares the variant
afresh in the attempt's folder (so the reference expectation and context come from the
grader, never from the receipt), puts the learner's folder back, and runs the exercise's
checks on it with its own, unpatched modules. A test cell passes only when it passed in the
kernel, left a receipt for the exercise and variant it calls, that receipt's kernel verdict
passed, and the grader's re-check passes. Otherwise only that cell fails, saying its grade
was forged.

Outside autograding (a learner's own JupyterLab, the self-check) no folder is set and
``check()`` works as before.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import sqlite3
import tempfile
import types
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from grading.checks import PrincipleViolation
from sandbox_cms.core.errors import CourseError

RECEIPTS_ENV = "PRIVACY_COURSE_RECEIPTS"
RECEIPT_NAME = "receipt.json"
FORMAT_VERSION = 1

GRADER_OWNED = frozenset({
    "exercise", "variant_name", "variant", "cms", "context", "expected", "workdir", "result",
    "audit_from",
})
"""Attempt fields the grader recomputes itself; every other field of ``Attempt`` is a fact
noted while the learner's function ran (audit range, witness hashes, handed-over session)
and travels in the receipt."""

FORGED = "the grade of this cell was forged"
"""The phrase every forged cell's message starts with (``privacy-course grade`` reports it)."""

UNCONFIRMED = "the grader could not confirm this test's pass outside your notebook"
"""The phrase of a pass the grading process could not re-check for a reason that is no
forgery (a value it cannot store, its own error); reported to the instructor as well."""


def receipts_folder() -> Path | None:
    """The folder the grading process chose for this notebook run, or None (not autograding)."""
    value = os.environ.get(RECEIPTS_ENV)
    return Path(value) if value else None


# --- the kernel's side ---------------------------------------------------------------


def run_with_receipt(exercise_id: str, fn: Any, variant: str, folder: Path) -> Any:
    """Like :func:`grading.harness.run`, but keep the attempt's folder inside ``folder`` and
    write its receipt there; returns the :class:`~grading.harness.Outcome`."""
    from grading import harness

    exercise = harness.get_exercise(exercise_id)
    workdir = Path(tempfile.mkdtemp(prefix=f"{exercise.id}-{variant}-", dir=folder))
    attempt = harness.open_variant(exercise, variant, workdir=workdir)
    try:
        violation = harness._grade(attempt, fn)
    finally:
        close = getattr(attempt.cms, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()
    write_receipt(attempt, violation)
    return harness.Outcome(exercise.id, variant, violation is None, violation)


def write_receipt(attempt: Any, violation: PrincipleViolation | None) -> Path:
    """Write ``receipt.json`` into the attempt's folder (atomically) and return its path."""
    noted = {f.name: encode(getattr(attempt, f.name)) for f in dataclasses.fields(attempt)
             if f.name not in GRADER_OWNED}
    data = {
        "version": FORMAT_VERSION,
        "exercise": attempt.exercise.id,
        "variant": attempt.variant_name,
        "passed": violation is None,
        "message": None if violation is None else (
            violation.for_hidden() if attempt.variant_name == "hidden" else violation).message,
        "audit_from": attempt.audit_from,
        "result": encode(attempt.result),
        "noted": noted,
    }
    path = Path(attempt.workdir) / RECEIPT_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return path


# --- values as data ------------------------------------------------------------------

MAX_DEPTH = 40


def encode(value: Any, depth: int = 0) -> Any:
    """A learner's value as JSON-able data that :func:`decode` turns back into an equal
    value of the same kind (sets stay sets, tuples tuples, ``Path`` a path, dict keys keep
    their type). Subclasses (``defaultdict``, ``Counter``, ``IntEnum``) become their base
    kind; an object the grader cannot store becomes a marker that fails every check."""
    if depth > MAX_DEPTH:
        return {"$": "unstored", "type": "a value nested too deep"}
    deeper = depth + 1
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, PurePath):
        return {"$": "path", "v": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, Mapping):
        return {"$": "dict", "v": [[encode(k, deeper), encode(v, deeper)]
                                   for k, v in value.items()]}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"$": "tuple", "v": [encode(v, deeper) for v in value]}
    if isinstance(value, tuple):  # a named tuple: its fields by name, and by position
        return {"$": "namedtuple", "type": type(value).__name__, "fields": list(value._fields),
                "v": [encode(v, deeper) for v in value]}
    if isinstance(value, set | frozenset):
        kind = "frozenset" if isinstance(value, frozenset) else "set"
        return {"$": kind, "v": [encode(v, deeper) for v in value]}
    if isinstance(value, list):
        return [encode(v, deeper) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$": "object", "type": type(value).__name__,
                "v": {f.name: encode(getattr(value, f.name), deeper)
                      for f in dataclasses.fields(value)}}
    item = getattr(value, "item", None)  # a numpy scalar
    if type(value).__module__.startswith("numpy") and callable(item):
        with contextlib.suppress(Exception):
            return encode(item(), deeper)
    attributes = getattr(value, "__dict__", None)  # SimpleNamespace, a plain object
    if isinstance(attributes, dict) and not callable(value) and not isinstance(value, type):
        return {"$": "object", "type": type(value).__name__,
                "v": {str(k): encode(v, deeper) for k, v in attributes.items()
                      if not str(k).startswith("__")}}
    return {"$": "unstored", "type": type(value).__name__}


def unstored(data: Any) -> list[str]:
    """The kinds of value :func:`encode` could not store, anywhere in ``data``."""
    if isinstance(data, list):
        return [kind for item in data for kind in unstored(item)]
    if not isinstance(data, dict):
        return []
    if data.get("$") == "unstored":
        return [str(data.get("type"))]
    value = data.get("v")
    if isinstance(value, dict):
        return [kind for item in value.values() for kind in unstored(item)]
    return unstored(value) if isinstance(value, list) else []


class Unstored:
    """Stands for a value the receipt could not hold; it equals nothing."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} the grader could not store>"


def decode(data: Any) -> Any:
    """The value :func:`encode` stored."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    kind, value = data.get("$"), data.get("v")
    if kind == "path":
        return Path(value)
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "dict":
        return {_hashable(decode(k)): decode(v) for k, v in value}
    if kind == "tuple":
        return tuple(decode(v) for v in value)
    if kind == "namedtuple":
        import collections

        cls = collections.namedtuple(data.get("type") or "Row", data["fields"], rename=True)
        return cls(*(decode(v) for v in value))
    if kind in ("set", "frozenset"):
        items = {_hashable(decode(v)) for v in value}
        return items if kind == "set" else frozenset(items)
    if kind == "object":
        return types.SimpleNamespace(**{k: decode(v) for k, v in value.items()})
    return Unstored(str(data.get("type", "value")))


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# --- the grader's side ---------------------------------------------------------------


def called_check(source: str) -> tuple[str, str] | None:
    """The ``(exercise id, variant)`` a test cell's ``check("ID", fn, variant=...)`` call
    grades, read from the (restored, locked) cell source; None if it calls no check."""
    lines = [("" if line.lstrip().startswith(("%", "!")) else line)
             for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else None)
        if name != "check" or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        variant: Any = "visible"
        if len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
            variant = node.args[2].value
        for keyword in node.keywords:
            if keyword.arg == "variant" and isinstance(keyword.value, ast.Constant):
                variant = keyword.value.value
        if isinstance(node.args[0].value, str) and isinstance(variant, str):
            return node.args[0].value, variant
    return None


@dataclasses.dataclass(frozen=True)
class Receipt:
    """One receipt found in the grading process's folder."""

    folder: Path
    data: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return str(self.data.get("exercise")), str(self.data.get("variant"))


def read_receipts(folders: list[Path]) -> list[Receipt]:
    """The readable receipts among new attempt folders (a folder without one is skipped)."""
    found = []
    for folder in folders:
        path = folder / RECEIPT_NAME
        if folder.is_symlink() or not folder.is_dir() or path.is_symlink():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict):
            found.append(Receipt(folder, data))
    return found


def cell_verdict(source: str, passed_in_kernel: bool,
                 receipts: list[Receipt]) -> PrincipleViolation | None:
    """The grader's verdict on one test cell that passed in the kernel: None (the pass
    stands) or the violation that says its grade was forged. A cell that calls no
    ``check`` is left to nbgrader (None)."""
    called = called_check(source)
    if called is None or not passed_in_kernel:
        return None
    exercise_id, variant = called
    mine = [r for r in receipts if r.key == called]
    if not mine:
        return _forged(variant, "the test cell passed, but check() left no receipt that the "
                       "grader ran your function (was check replaced, skipped or made a "
                       "no-op?)")
    for receipt in mine:
        if not receipt.data.get("passed"):
            said = str(receipt.data.get("message") or "it failed")
            return _forged(variant, f"check() failed ({said.rstrip('.')}), but the test cell "
                           "reported a pass")
        try:
            violation = recheck(receipt)
        except Exception as exc:  # noqa: BLE001 - the grader's own trouble is not a forgery
            return PrincipleViolation(
                "task", f"{UNCONFIRMED}: its re-check stopped with {type(exc).__name__}: "
                f"{exc}; the grade report names this cell for your instructor")
        if violation is not None:
            if variant == "hidden":
                violation = violation.for_hidden()
            kinds = unstored(receipt.data.get("result"))
            if kinds:
                return PrincipleViolation(
                    "task", f"{UNCONFIRMED}: your function returned {_a(kinds[0])}, which "
                    "cannot be carried out of your kernel; return plain values (lists, sets, "
                    "dicts, strings, numbers, paths)")
            return _forged(variant, "the test cell passed, but the grader's own re-check of "
                           f"what your function did says: {_said(violation)}")
    return None


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _said(violation: PrincipleViolation) -> str:
    """A violation quoted inside another task message (its title only when it adds one)."""
    text = violation.message.rstrip(".")
    if violation.principle == "task":
        text = text.removeprefix(f"{violation.title} ({violation.article}): ")
    return text


def _forged(variant: str, why: str) -> PrincipleViolation:
    return PrincipleViolation(
        "task", f"{FORGED}: {why}; only this cell scores 0 (leave grading, its checks and "
        "the test cells to the grader)", hidden=False)


def recheck(receipt: Receipt) -> PrincipleViolation | None:
    """Re-run an exercise's checks on a receipt, in this (the grader's) process.

    The variant is prepared afresh *in the attempt's own folder* (the learner's copy moved
    aside meanwhile), so the context (paths, planted records) and the expectation are the
    grader's and every path matches the one the learner's function saw. The learner's
    sandbox must start as that preparation does (its audit log up to the attempt); then its
    content and files replace the fresh ones and the checks read them, the returned value
    and the facts noted while the function ran.
    """
    from grading import harness

    data = receipt.data
    if data.get("version") != FORMAT_VERSION:
        return PrincipleViolation("task", "the receipt is not one this grader wrote")
    try:
        exercise = harness.get_exercise(str(data.get("exercise")))
        variant_name = str(data.get("variant"))
        exercise.variant(variant_name)
    except CourseError as exc:
        return PrincipleViolation("task", str(exc))
    workdir = receipt.folder
    learner = workdir.with_name(workdir.name + ".learner")
    workdir.rename(learner)
    fresh = None
    try:
        learner_db = learner / "sandbox.db"
        if not learner_db.is_file() or learner_db.is_symlink():
            return PrincipleViolation("task", "the attempt's sandbox is gone")
        fresh = harness.open_variant(exercise, variant_name, workdir=workdir)
        if exercise.arguments:
            exercise.arguments(fresh)
        head = harness._audit_head(fresh)
        if _audit_prefix(learner_db, head) != _audit_prefix(Path(fresh.cms.path), head):
            return PrincipleViolation(
                "accountability", "the sandbox your function was graded on is not the one "
                "the grader prepared for this test (its audit log starts differently)")
        _take_over(learner, workdir)
        attempt = fresh
        attempt.audit_from = head
        for name, value in (data.get("noted") or {}).items():
            if name not in GRADER_OWNED and hasattr(attempt, name):
                setattr(attempt, name, decode(value))
        if isinstance(attempt.audit_written, dict):
            attempt.audit_written = {int(k): v for k, v in attempt.audit_written.items()}
        if data.get("audit_from") != head:  # the kernel's harness did not note it
            attempt.audit_from_hash = harness._audit_hash(attempt, head)
        attempt.result = decode(data.get("result"))
        return run_checks(attempt)
    finally:
        if fresh is not None:
            with contextlib.suppress(Exception):
                fresh.cms.close()
        shutil.rmtree(learner, ignore_errors=True)


def _take_over(learner: Path, workdir: Path) -> None:
    """Make the freshly prepared folder the learner's: the sandbox's content is copied into
    the open fresh database (SQLite's backup API: the grader's sandbox object stays the one
    opened before the learner's work, as in the kernel, and opening the learner's file
    anew would let the sandbox repair it first), and every other file the learner's
    function or the kernel's checks wrote replaces the fresh one of the same name."""
    source = sqlite3.connect(f"{(learner / 'sandbox.db').resolve().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(workdir / "sandbox.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    for entry in learner.iterdir():
        if entry.name.startswith("sandbox.db") or entry.name == RECEIPT_NAME \
                or entry.is_symlink():
            continue
        mine = workdir / entry.name
        if mine.is_dir() and not mine.is_symlink():
            shutil.rmtree(mine)
        elif mine.exists() or mine.is_symlink():
            mine.unlink()
        entry.rename(mine)


def run_checks(attempt: Any) -> PrincipleViolation | None:
    """The exercise's checks in order on a finished attempt (as the harness runs them)."""
    for one_check in attempt.exercise.all_checks():
        try:
            one_check(attempt)
        except PrincipleViolation as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - e.g. the learner damaged the sandbox
            name = getattr(one_check, "__name__", "a check")
            return PrincipleViolation(
                "task", f"the grader could not check your work ({name}: "
                f"{type(exc).__name__}: {exc}); did your code close, delete or damage the "
                "sandbox?")
    return None


def _audit_prefix(db: Path, upto: int) -> list[tuple[Any, ...]]:
    """The audit entries up to ``upto`` without their times, details and hashes (those
    differ between two preparations of the same variant): who did what to which rows."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT seq, actor, purpose, action, table_name, columns, row_ids FROM audit_log"
            " WHERE seq <= ? ORDER BY seq", (upto,))]
    except sqlite3.Error:
        return [("unreadable",)]
    finally:
        conn.close()
