"""The exercise harness: define an exercise, run a learner's function on a fresh sandbox,
check what it returned, what it changed and what the audit log says.

A notebook test cell is one line::

    from grading import check
    check("00-newsletter-consent", send_newsletter)                    # visible test
    check("00-newsletter-consent", send_newsletter, variant="hidden")  # in HIDDEN TESTS

The hidden variant runs on another scenario or seed, so an answer that hard-codes the
visible variant's ids fails. A failing check raises :class:`PrincipleViolation` (an
``AssertionError``), which nbgrader counts as a failed test; a learner function that
raises, returns ``None`` or loops past ``Exercise.timeout`` becomes a failing message too,
never a crash of the harness.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import shutil
import signal
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grading.checks import (
    PrincipleViolation,
    check_audit_intact,
    check_purpose_log,
    check_type,
    is_violation,
)
from grading.watch import watching
from sandbox_cms.core.errors import CourseError

Check = Callable[["Attempt"], None]
"""A check takes the finished attempt and raises PrincipleViolation when it fails."""

VARIANTS = ("visible", "hidden")


@dataclass(frozen=True)
class Variant:
    """Where an exercise runs: scenario, seed, size and a fixed clock. A hidden variant is
    declared without a seed: it is drawn per class at release (``grading.hidden``)."""

    scenario: str = "webshop"
    seed: int | None = None
    customers: int | None = 300
    now: dt.datetime | None = None


@dataclass(frozen=True)
class Exercise:
    """One graded exercise.

    ``prepare(cms, variant) -> dict`` changes the fresh sandbox before the learner runs
    (plant canaries, move the clock) and returns context for the checks. ``expect(attempt)``
    computes the reference engine's expectation *before* the learner runs. ``arguments``
    gives the positional arguments after ``cms`` for the learner's function. ``handover``
    names an internal purpose of the register (e.g. ``dsr_erasure``): the harness opens a
    processing context for it through the sandbox's privileged route and passes it as the
    argument right after ``cms`` (learner code may not open internal purposes itself).
    ``checks`` run in order; the first failure is the grade's message. Unless
    ``standard_checks`` is off, the harness adds: when ``purpose`` (or ``handover``) is set,
    every access the learner made ran under that purpose (5(1)(b)); every access under an
    internal purpose came from the handed-over context (5(1)(b)); the audit log verifies
    (5(2)).
    """

    id: str
    title: str
    principles: tuple[str, ...]
    task: str
    checks: tuple[Check, ...] = ()
    points: int = 1
    purpose: str | None = None
    returns: type | tuple[type, ...] | None = None
    visible: Variant = Variant()
    hidden: Variant = Variant()
    mode: str = "record"
    prepare: Callable[[Any, Variant], dict[str, Any]] | None = None
    expect: Callable[[Attempt], Any] | None = None
    arguments: Callable[[Attempt], Sequence[Any]] | None = None
    timeout: float = 30.0
    standard_checks: bool = True
    handover: str | None = None
    names_principle: bool = True
    """False for an exercise whose task does not name its principles, so that the learner
    must recognise them (review section 4, P1): listings then do not show them either."""

    def variant(self, name: str) -> Variant:
        """The visible variant as declared; the hidden one with the seed drawn for the class
        (``grading.hidden``): refused outside the instructor's grading run."""
        if name not in VARIANTS:
            raise CourseError(f"unknown variant {name!r} (use 'visible' or 'hidden')")
        if name == "visible":
            return self.visible
        from grading.hidden import hidden_seed

        return dataclasses.replace(self.hidden, seed=hidden_seed(self.id))

    def all_checks(self) -> tuple[Check, ...]:
        """The ordered checks: result type, the exercise's own, then the standard ones (the
        last: the sandbox was not gone around and its clock not turned back)."""
        checks: list[Check] = []
        if self.returns is not None:
            checks.append(_returns(self.returns))
        checks += self.checks
        if self.standard_checks:
            if self.purpose or self.handover:
                checks.append(learner_stayed_in_purpose)
            checks.append(internal_access_handed_over)
            checks.append(audit_log_intact)
            checks.append(stayed_inside_the_sandbox)
        return tuple(checks)


@dataclass
class Attempt:
    """One run of a learner's function: the sandbox, the context and what happened."""

    exercise: Exercise
    variant_name: str
    variant: Variant
    cms: Any
    context: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    result: Any = None
    audit_from: int = 0
    audit_to: int = 0
    audit_from_hash: str | None = None
    audit_written: dict[int, str] = field(default_factory=dict)
    workdir: Path | None = None
    handover_session: str | None = None
    escapes: list[str] = field(default_factory=list)
    clock_before: str | None = None
    clock_after: str | None = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Read the sandbox as the grader: a plain read-only connection, not audited."""
        conn = sqlite3.connect(f"file:{self.cms.path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def learner_entries(self, *, actor: str | None = None) -> list[dict[str, Any]]:
        """Audit entries written while the learner's function ran (optionally one actor)."""
        rows = self.query(
            "SELECT * FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq",
            (self.audit_from, self.audit_to),
        )
        for row in rows:
            for key in ("columns", "row_ids"):
                with contextlib.suppress(TypeError, ValueError):
                    row[key] = json.loads(row[key])
        return [r for r in rows if actor is None or r.get("actor") == actor]


@dataclass(frozen=True)
class Outcome:
    """The grade of one attempt: passed, or the violation that failed it."""

    exercise_id: str
    variant: str
    passed: bool
    violation: PrincipleViolation | None = None

    @property
    def message(self) -> str:
        return "passed" if self.violation is None else self.violation.message

    @property
    def principle(self) -> str | None:
        return None if self.violation is None else self.violation.principle


# --- registry ------------------------------------------------------------------------

_REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (re-registering an id replaces it)."""
    if exercise.mode not in ("record", "enforce"):
        raise CourseError(f"exercise {exercise.id}: mode must be 'record' or 'enforce'")
    _REGISTRY[exercise.id] = exercise
    return exercise


EXERCISE_LOADERS: list[Callable[[], object]] = []
"""Run before the registry is read: the ``grading`` package adds
``grading.exercises.load_all``. The exercise modules register themselves when imported and
import this module, so this module does not import them."""


def exercises() -> dict[str, Exercise]:
    """Every registered exercise, by id (the :data:`EXERCISE_LOADERS` run first)."""
    for load in tuple(EXERCISE_LOADERS):
        load()
    return dict(sorted(_REGISTRY.items()))


def get_exercise(exercise_id: str) -> Exercise:
    """One exercise by id; an unknown id is a clear error listing the known ones."""
    known = exercises()
    if exercise_id not in known:
        raise CourseError(
            f"unknown exercise {exercise_id!r} (known: {', '.join(known) or 'none'})"
        )
    return known[exercise_id]


# --- running -------------------------------------------------------------------------


def open_variant(exercise: Exercise, variant_name: str,
                 workdir: Path | None = None) -> Attempt:
    """A fresh sandbox for one variant, prepared and with the expectation computed, in
    ``workdir`` (created; default a new temporary folder). Close it with
    :func:`close_attempt` (which also removes that folder)."""
    from sandbox_cms.cms import fresh_sandbox, temporary_folder

    variant = exercise.variant(variant_name)
    if workdir is None:  # named after this process: reaped if it is killed (cms.py)
        workdir = temporary_folder(f"grading-{exercise.id}-")
    else:
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        cms = fresh_sandbox(
            scenario=variant.scenario,
            seed=variant.seed,
            customers=variant.customers,
            mode=exercise.mode,
            path=workdir / "sandbox.db",
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    attempt = Attempt(exercise, variant_name, variant, cms, workdir=workdir)
    try:
        if variant.now is not None:
            _set_clock(cms, variant.now)
        if exercise.prepare is not None:
            attempt.context = exercise.prepare(cms, variant) or {}
        if exercise.expect is not None:
            attempt.expected = exercise.expect(attempt)
    except BaseException:
        close_attempt(attempt)
        raise
    return attempt


def close_attempt(attempt: Attempt) -> None:
    """Close the attempt's sandbox and remove its temporary folder."""
    close = getattr(attempt.cms, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
    if attempt.workdir is not None:
        shutil.rmtree(attempt.workdir, ignore_errors=True)


def run(exercise: Exercise | str, fn: Any, variant: str = "visible") -> Outcome:
    """Run ``fn`` on a fresh sandbox for ``exercise`` and grade it; never raises for the
    learner's mistakes (they become the outcome's violation)."""
    if isinstance(exercise, str):
        exercise = get_exercise(exercise)
    attempt = open_variant(exercise, variant)
    try:
        violation = _grade(attempt, fn)
    finally:
        close_attempt(attempt)
    return Outcome(exercise.id, variant, violation is None, violation)


OUTCOME_LISTENERS: list[Callable[[Outcome], object]] = []
"""Called with the outcome of every :func:`check`: the ``grading`` package adds
:func:`grading.selfcheck.record_outcome` (the learner's progress file). A list filled from
above, so the harness imports nothing of the progress file that builds on it."""


ATTEMPT_RUNNERS: list[Callable[[str, Any, str], Outcome | None]] = []
"""Tried in turn by :func:`check`; the first that returns an :class:`Outcome` ran the attempt,
else :func:`run` does. The ``grading`` package adds the receipts' runner
(:mod:`grading.receipts`, which applies while ``privacy-course grade`` autogrades); the
receipts build on this module, so this module does not import them."""


def check(exercise_id: str, fn: Any, variant: str = "visible", *, quiet: bool = False) -> None:
    """Grade ``fn``, print one line, record the result in the learner's progress file, and
    raise :class:`PrincipleViolation` if it failed (so a notebook test cell fails).

    Returns None on purpose: nbgrader reads a test cell's displayed value as partial
    credit. Use :func:`run` to get the :class:`Outcome`. A pass prints one line; a failure
    prints nothing, so the first thing under the cell is the violation itself (IPython
    shows it as ``PrincipleViolation: <message>`` and the rule, without a traceback). A
    failure on the hidden variant names the principle and the kind of each record, never
    the hidden sandbox's data. While ``privacy-course grade`` autogrades, the attempt also
    leaves a receipt that the grading process re-checks (:mod:`grading.receipts`).
    """
    outcome = None
    for runner in tuple(ATTEMPT_RUNNERS):  # while autograding: the receipts' runner
        outcome = runner(exercise_id, fn, variant)
        if outcome is not None:
            break
    if outcome is None:
        outcome = run(exercise_id, fn, variant)
    if outcome.violation is not None and variant == "hidden":
        outcome = Outcome(outcome.exercise_id, outcome.variant, False,
                          outcome.violation.for_hidden())
    for listener in tuple(OUTCOME_LISTENERS):
        listener(outcome)
    if not quiet and outcome.passed:
        print(_summary_line(outcome))
    if outcome.violation is not None:
        raise outcome.violation


def _summary_line(outcome: Outcome) -> str:
    label = f"{outcome.exercise_id} ({outcome.variant})"
    if outcome.passed:
        return f"✓ {label}: passed"
    return f"✗ {label}: {outcome.message}\nThe rule: {outcome.violation.rule}"  # type: ignore[union-attr]


def _grade(attempt: Attempt, fn: Any) -> PrincipleViolation | None:
    exercise = attempt.exercise
    if not callable(fn):
        return PrincipleViolation(
            "task", f"check() needs your function, but got {type(fn).__name__} {fn!r:.60}"
        )
    args = tuple(exercise.arguments(attempt)) if exercise.arguments else ()
    attempt.audit_from = _audit_head(attempt)
    attempt.audit_from_hash = _audit_hash(attempt, attempt.audit_from)
    attempt.clock_before = _clock(attempt)
    try:
        with _witness(attempt.audit_written, attempt), _time_limit(exercise.timeout), \
                watching(attempt.cms) as watch:
            attempt.escapes = watch.findings
            try:
                with _handover(attempt) as handed:
                    attempt.result = fn(attempt.cms, *handed, *args)
            finally:
                _settle(attempt.cms)
    except PrincipleViolation as exc:  # e.g. the learner called a check themselves
        return exc
    except LearnerTimeout:
        return PrincipleViolation(
            "task", f"your function was stopped after {exercise.timeout:g} s (an endless loop?)"
        )
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any learner error is a message
        return _went_around(attempt) or _violation_from_error(exc)
    finally:
        attempt.audit_to = _audit_head(attempt)
        with contextlib.suppress(Exception):
            attempt.clock_after = _clock(attempt)
    for one_check in exercise.all_checks():
        try:
            one_check(attempt)
        except PrincipleViolation as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - e.g. the learner closed or broke the sandbox
            name = getattr(one_check, "__name__", "a check")
            return PrincipleViolation(
                "task",
                f"the grader could not check your work ({name}: {type(exc).__name__}: {exc}); "
                "did your code close, delete or damage the sandbox?",
            )
    return None


ERROR_PRINCIPLES = {
    "PurposeViolation": "purpose_limitation",
}
"""Sandbox refusals (by exception class name) that mean a principle, not a crash."""


def _violation_from_error(exc: BaseException) -> PrincipleViolation:
    """Turn an exception raised by the learner's code into a failing grade."""
    if isinstance(exc, NotImplementedError):
        return PrincipleViolation(
            "task", "your function is not written yet (it raises NotImplementedError)"
        )
    principle = getattr(exc, "principle", None) or ERROR_PRINCIPLES.get(type(exc).__name__)
    where = _learner_line(exc)
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":.")
    if isinstance(principle, str):
        with contextlib.suppress(CourseError):
            return PrincipleViolation(principle, f"the sandbox refused your code ({text}){where}")
    return PrincipleViolation("task", f"your function raised {text}{where}")


def _learner_line(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if "/grading/" not in frame.filename and "/sandbox_cms/" not in frame.filename:
            if frame.line:
                return f" at line {frame.lineno}: {frame.line.strip()}"
            return f" at line {frame.lineno}"
    return ""


def _audit_head(attempt: Attempt) -> int:
    rows = attempt.query("SELECT COALESCE(MAX(seq), 0) AS head FROM audit_log")
    return int(rows[0]["head"])


def _audit_hash(attempt: Attempt, seq: int) -> str | None:
    rows = attempt.query("SELECT hash FROM audit_log WHERE seq = ?", (seq,))
    return rows[0]["hash"] if rows else None


@contextlib.contextmanager
def _handover(attempt: Attempt) -> Iterator[tuple[Any, ...]]:
    """The handed-over processing context, open while the learner's function runs (empty
    when the exercise hands none over)."""
    purpose = attempt.exercise.handover
    if not purpose:
        yield ()
        return
    context = attempt.cms._internal(purpose, "learner")
    attempt.handover_session = context.session
    with context:
        yield (context,)


def _clock(attempt: Attempt) -> str | None:
    rows = attempt.query("SELECT value FROM meta WHERE key = 'clock_now'")
    return rows[0]["value"] if rows else None


def _went_around(attempt: Attempt) -> PrincipleViolation | None:
    try:
        stayed_inside_the_sandbox(attempt)
    except PrincipleViolation as exc:
        return exc
    return None


def _set_clock(cms: Any, now: dt.datetime) -> None:
    try:
        cms.clock.set(now, allow_backwards=True)
    except TypeError:
        cms.clock.set(now)


def _settle(cms: Any) -> None:
    """Make the learner's work visible to the grader: flush buffered audit entries and
    commit an open transaction (a learner may forget to)."""
    with contextlib.suppress(Exception):
        cms.flush()
    with contextlib.suppress(Exception):  # a closed connection: nothing to settle
        conn = cms.connection
        if conn.in_transaction:
            conn.commit()


class LearnerTimeout(Exception):
    """The learner's function ran longer than the exercise allows."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Stop the body after ``seconds`` (main thread on Unix only; elsewhere nbgrader's
    ``Execute.timeout`` is the limit)."""
    usable = (
        seconds > 0
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _stop(signum: int, frame: Any) -> None:
        raise LearnerTimeout()

    previous = signal.signal(signal.SIGALRM, _stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- standard checks -----------------------------------------------------------------


def _returns(expected: type | tuple[type, ...]) -> Check:
    def returns_right_type(attempt: Attempt) -> None:
        check_type(attempt.result, expected, "the return value")

    return returns_right_type


def learner_stayed_in_purpose(attempt: Attempt) -> None:
    """Every access by the learner ran under the exercise's purpose, none outside it.

    Entries by other actors (the sandbox's own internal purposes) count only when they
    record a violation.
    """
    entries = [
        e for e in attempt.learner_entries() if e.get("actor") == "learner" or is_violation(e)
    ]
    _no_internal_purpose_opened(attempt, entries)
    check_purpose_log(entries, attempt.exercise.purpose or attempt.exercise.handover or "")


def _no_internal_purpose_opened(attempt: Attempt, entries: list[dict[str, Any]]) -> None:
    """The learner's code did not open an internal purpose, or claim a mechanism's name,
    itself (the sandbox refused or recorded it): say so in those words."""
    records = []
    for entry in entries:
        detail = entry.get("detail")
        with contextlib.suppress(TypeError, ValueError):
            detail = json.loads(detail) if isinstance(detail, str) else detail
        kinds = detail.get("kinds", []) if isinstance(detail, dict) else []
        if "internal_purpose" in kinds:
            records.append(f"audit entry {entry.get('seq')}: opened {entry.get('purpose')!r} as"
                           f" {entry.get('actor')!r}")
        elif "internal_actor" in kinds:
            records.append(f"audit entry {entry.get('seq')}: claimed to be"
                           f" {detail.get('actor')!r}")
    if records:
        handover = attempt.exercise.handover
        use = (f"use the {handover!r} context the grader handed over (the argument after cms)"
               if handover else "only the CMS's own mechanisms (cms.dsr, cms.retention,"
               " cms.consent) run them")
        raise PrincipleViolation(
            "purpose_limitation", "your code opened an internal purpose of the register, or"
            f" named one of the CMS's mechanisms, itself; {use}", records, article="5(1)(b)")


MECHANISMS_ANY_EXERCISE_MAY_ASK = frozenset({("consent", "consent_administration")})
"""(actor, internal purpose) a learner may call in any exercise: the consent ledger answers
who may be processed (``cms.consent.may``, ``allowed_customers``)."""


def internal_access_handed_over(attempt: Attempt) -> None:
    """Every access under an internal purpose of the register (DSRs, retention) during the
    attempt came from the context the harness handed over: not from a context the learner
    opened, nor from a DSR or retention mechanism the exercise did not ask to run (5(1)(b))."""
    exercise = attempt.exercise
    purposes = attempt.cms.register.purposes
    records = []
    for entry in attempt.learner_entries():
        purpose = entry.get("purpose")
        if purpose not in purposes or not purposes[purpose].internal:
            continue
        detail = entry.get("detail")
        with contextlib.suppress(TypeError, ValueError):
            detail = json.loads(detail) if isinstance(detail, str) else detail
        session = detail.get("session") if isinstance(detail, dict) else None
        actor = entry.get("actor")
        if attempt.handover_session is not None and session == attempt.handover_session:
            continue
        if (actor, purpose) in MECHANISMS_ANY_EXERCISE_MAY_ASK:
            continue
        records.append(f"audit entry {entry.get('seq')}: {entry.get('action')} under "
                       f"{purpose!r} by {actor!r}")
    if records:
        given = (f"only the context the grader handed over ({exercise.handover!r}) may"
                 if exercise.handover else "this exercise hands over no internal purpose, so"
                 " nothing may")
        raise PrincipleViolation(
            "purpose_limitation",
            f"internal purposes of the register (requests, retention) are the CMS's own; {given}"
            " process data under them, not code or mechanisms the task did not ask for",
            records,
        )


def stayed_inside_the_sandbox(attempt: Attempt) -> None:
    """The learner's code did not read the sandbox around its purpose gate (a second
    connection, the file's bytes, a lifted gate, a removed authorizer, the backup API:
    :mod:`grading.watch`), and the sandbox clock is not earlier than before it ran."""
    if attempt.escapes:
        raise PrincipleViolation(
            "purpose_limitation",
            "your code went around the sandbox's purpose gate, where nothing is checked or"
            " logged; read and act only through the processing context (`with"
            " cms.processing(...)`, p.query, p.execute) and the sandbox's own mechanisms",
            attempt.escapes, article="5(1)(b)")
    before, after = attempt.clock_before, attempt.clock_after
    problems = []
    if before and after and _moment(after) < _moment(before):
        problems.append(f"the clock stood at {before} before your code ran and at {after}"
                        " after it")
    moves = [e for e in attempt.learner_entries() if e.get("action") == "clock"
             and e.get("actor") == "cms"]
    expected = before
    for entry in moves:
        detail = entry.get("detail")
        with contextlib.suppress(TypeError, ValueError):
            detail = json.loads(detail) if isinstance(detail, str) else detail
        if isinstance(detail, dict):
            if expected and detail.get("from") and _moment(detail["from"]) != _moment(expected):
                problems.append(f"audit entry {entry.get('seq')}: the clock moved from "
                                f"{detail['from']}, but it stood at {expected}")
            expected = detail.get("to") or expected
    if expected and after and _moment(expected) != _moment(after):
        problems.append(f"the clock stands at {after}, but the sandbox last moved it to"
                        f" {expected}")
    if problems:
        raise PrincipleViolation(
            "accountability", "the sandbox clock was changed behind the sandbox's back (it only"
            " moves forward, with cms.clock.set or advance): deadlines and the audit log depend"
            " on it", problems, article="5(2); 5(1)(e)")


def _moment(value: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        return dt.datetime.max


def audit_log_intact(attempt: Attempt) -> None:
    """The audit log's hash chain verifies, the part written before the learner's code ran
    is unchanged, and every entry since is one the sandbox wrote, unaltered."""
    check_audit_intact(attempt.cms.audit.verify(), audit_discrepancies(attempt))


def audit_discrepancies(attempt: Attempt) -> list[str]:
    """Differences between the audit log and the grader's own record of it."""
    problems = []
    if attempt.audit_from and _audit_hash(attempt, attempt.audit_from) != attempt.audit_from_hash:
        problems.append(f"entry {attempt.audit_from} and those before it were rewritten after "
                        "your code started")
    rows = attempt.query(
        "SELECT seq, hash FROM audit_log WHERE seq > ? ORDER BY seq", (attempt.audit_from,)
    )
    present = {r["seq"]: r["hash"] for r in rows}
    for seq, digest in sorted(attempt.audit_written.items()):
        if seq not in present:
            problems.append(f"entry {seq}, written by the sandbox, is gone")
        elif present[seq] != digest:
            problems.append(f"entry {seq} is not the entry the sandbox wrote")
    for seq in sorted(set(present) - set(attempt.audit_written)):
        if seq <= attempt.audit_to:
            problems.append(f"entry {seq} was not written by the sandbox")
    return problems


@contextlib.contextmanager
def _witness(written: dict[int, str], attempt: Attempt | None = None) -> Iterator[None]:
    """Keep, outside the database, the hash of every audit entry the sandbox writes: in
    this process, and (through ``$SANDBOX_AUDIT_WITNESS``) in a ``sandbox-cms`` command the
    learner's code runs, e.g. `sandbox-cms backup`."""
    from sandbox_cms.core import scope
    from sandbox_cms.privacy import audit

    if attempt is not None and attempt.workdir is not None:
        with _witness(written), _other_processes(written, attempt):
            yield
        return

    original = audit.append_many

    def witnessed(conn: sqlite3.Connection, entries: Any) -> list[int]:
        seqs = original(conn, entries)
        if seqs:
            with scope.system(conn, write=False):
                written.update(conn.execute(
                    "SELECT seq, hash FROM audit_log WHERE seq BETWEEN ? AND ?",
                    (min(seqs), max(seqs)),
                ).fetchall())
        return seqs

    audit.append_many = witnessed
    try:
        yield
    finally:
        audit.append_many = original


@contextlib.contextmanager
def _other_processes(written: dict[int, str], attempt: Attempt) -> Iterator[None]:
    import os

    from sandbox_cms.privacy import audit

    assert attempt.workdir is not None
    path = attempt.workdir / "audit-witness.jsonl"
    previous = os.environ.get(audit.WITNESS_ENV)
    os.environ[audit.WITNESS_ENV] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(audit.WITNESS_ENV, None)
        else:
            os.environ[audit.WITNESS_ENV] = previous
        for seq, digest in audit.witnessed(path, attempt.cms.path).items():
            written.setdefault(seq, digest)
