"""The ``Sandbox`` facade: one open sandbox database with its register, clock and audit log.

    from sandbox_cms import fresh_sandbox
    cms = fresh_sandbox()                        # a private copy of the webshop scenario
    with cms.processing("newsletter") as p:      # every read is checked and logged
        rows = p.query("SELECT id, email FROM customers")
    cms.audit.verify()

``consent``, ``retention``, ``dsr`` and ``storage`` are provided by their own modules and
created on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from sandbox_cms.core import schema, scope
from sandbox_cms.core.clock import Clock
from sandbox_cms.core.errors import NotASandbox, PolicyError, ProcessingError
from sandbox_cms.privacy import audit
from sandbox_cms.privacy.access import MODES, Gate, GuardedConnection, Processing, Violation
from sandbox_cms.privacy.breaches import BreachRegister
from sandbox_cms.privacy.consent import ConsentLedger
from sandbox_cms.privacy.dsr import DataSubjectRequests
from sandbox_cms.privacy.install import install_policy
from sandbox_cms.privacy.policy import (
    FINGERPRINT_KEY,
    STORED_KEY,
    Purpose,
    Register,
    default_register,
    fingerprint,
    stored_fingerprint,
)
from sandbox_cms.privacy.retention import RetentionSchedule
from sandbox_cms.privacy.storage import Storage

OPEN_LISTENERS: list[Callable[[Sandbox], None]] = []
"""Called with every sandbox right after it connects (also on ``reopen``): the grader
watches each connection to the sandbox it grades, however the learner's code opened it."""


class Sandbox:
    """An open sandbox CMS. Use :func:`open_sandbox` or :func:`fresh_sandbox` to get one."""

    def __init__(self, path: str | Path, mode: str = "enforce", durable: bool = False) -> None:
        if mode not in MODES:
            raise ProcessingError(f"unknown mode {mode!r}: use 'enforce' or 'record'")
        self.path = Path(path)
        self.mode = mode
        self.durable = durable
        self.audit = audit.AuditLog(self)
        self._on_close: list[Callable[[], None]] = []
        self._open()

    def _open(self) -> None:
        connection = _connect(self.path, self.durable)
        try:
            if schema.missing_triggers(connection):  # built before them, or dropped
                with scope.system(connection):
                    schema.create_triggers(connection)
            register = _register_of(connection)
            gate = Gate(connection, register, self.mode, self._refused)
        except BaseException:
            connection.close()
            raise
        connection.gate = gate  # type: ignore[attr-defined]
        self.connection, self.register, self.gate = connection, register, gate
        self._stack: list[Processing] = []
        self.clock = Clock(connection, self._clock_scope, self._clock_moved)
        for listener in tuple(OPEN_LISTENERS):  # the grader's watch (grading.watch)
            listener(self)

    def reopen(self) -> None:
        """Close the database and connect to the file at ``path`` again (e.g. after a restore
        replaced it); the same object, with its mode, then works on the new file."""
        self._disconnect()
        self._open()

    # -- purposes -------------------------------------------------------------------------

    def processing(self, purpose: str, actor: str = "learner") -> Processing:
        """A context for processing personal data for one purpose of the register."""
        return Processing(self, self.register.purpose(purpose), actor)

    def _internal(self, purpose: str, actor: str) -> Processing:
        """The privileged route: a context for an internal purpose of the register, for the
        CMS's own mechanisms (``cms.dsr``, ``cms.retention``, ``cms.consent``) and for the
        grader's handover. Not for exercise code: the grader checks that every internal
        access during an attempt came from the context it handed over (docs/threat-model.md).
        """
        return Processing(self, self.register.purpose(purpose), actor, privileged=True)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Run a query outside any purpose: fine for products and the register, refused
        (or recorded) for personal data."""
        with Processing(self, None, "learner") as p:
            return p.query(sql, params)

    @property
    def purposes(self) -> dict[str, Purpose]:
        return self.register.purposes

    def flush(self) -> None:
        """Write the audit entries that open processing blocks still hold.

        Outside any block, what statements run straight on ``connection`` touched is logged
        too (purpose none: in record mode these are the violations).
        """
        for processing in self._stack:
            processing.flush()
        if not self._stack and (self.gate.reads or self.gate.writes or self.gate.violations):
            with Processing(self, None, "learner") as outside:
                outside._collect_stray()

    def _refused(self, violations: list[Violation]) -> Exception:
        if self._stack:
            return self._stack[-1].refused(violations)
        with Processing(self, None, "learner") as outside:  # SQL run straight on connection
            return outside.refused(violations)

    def _clock_scope(self) -> contextlib.AbstractContextManager[None]:
        self.flush()  # entries made before the move keep the old time and come first
        return scope.system(self.connection)

    def _enter(self, processing: Processing) -> None:
        self._stack.append(processing)
        self.gate.push(processing.purpose)

    def _exit(self, processing: Processing) -> None:
        if processing in self._stack:
            self._stack.remove(processing)
        self.gate.pop()

    def _clock_moved(self, old: dt.datetime, new: dt.datetime) -> None:
        audit.append(self.connection, at=new, actor="cms", purpose=None, action="clock",
                     table="meta", columns=["meta.clock_now"], row_ids=[],
                     detail={"from": old.isoformat(), "to": new.isoformat()})
        for processing in self._stack:
            processing._time_changed(new.isoformat())

    # -- transactions ---------------------------------------------------------------------

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One atomic unit of work (re-entrant; inner levels are savepoints)."""
        return scope.transaction(self.connection)

    # -- the mechanisms, created on first use and handed this sandbox (privacy.host) -------

    @cached_property
    def consent(self) -> ConsentLedger:
        return ConsentLedger(self)

    @cached_property
    def retention(self) -> RetentionSchedule:
        return RetentionSchedule(self)

    @cached_property
    def dsr(self) -> DataSubjectRequests:
        return DataSubjectRequests(self)

    @cached_property
    def storage(self) -> Storage:
        return Storage(self)

    @cached_property
    def breaches(self) -> BreachRegister:
        return BreachRegister(self)

    # -- lifetime -------------------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        """A value from the ``meta`` table (scenario, seed, clock_now, ...)."""
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def close(self) -> None:
        """Write pending audit entries and close the database; then stop what was started
        on it (see :meth:`on_close`)."""
        self._disconnect()
        while self._on_close:
            callback = self._on_close.pop()
            with contextlib.suppress(Exception):
                callback()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when this sandbox is closed (not on :meth:`reopen`): e.g.
        to stop a web server started on its database."""
        self._on_close.append(callback)

    def _disconnect(self) -> None:
        with contextlib.suppress(sqlite3.ProgrammingError):
            self.flush()
            self.connection.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Sandbox {self.path} mode={self.mode!r}>"


def _connect(path: Path, durable: bool) -> GuardedConnection:
    if not path.is_file():
        raise NotASandbox(
            f"{path}: no such sandbox (build one with `sandbox-cms seed --db {path}`)"
        )
    try:
        conn = sqlite3.connect(
            f"file:{path.resolve()}?mode=rw", uri=True, isolation_level=None,
            factory=GuardedConnection, check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise NotASandbox(f"{path}: cannot open it as a sandbox ({exc})") from None
    try:
        names = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise NotASandbox(f"{path}: not a sandbox database ({exc})") from None
    missing = [t for t in schema.TABLES if t not in names]
    if missing:
        conn.close()
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if missing[3:] else "")
        raise NotASandbox(f"{path}: not a sandbox database (no table {shown})")
    conn.execute("PRAGMA foreign_keys = OFF")
    # Not durable by default: a commit survives a crash of Python, not of the machine. An
    # fsync costs 15-20 ms here, more than a hundred reads; see docs/performance/access.md.
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
    conn.execute("PRAGMA busy_timeout = 5000")
    # Deleted rows are overwritten with zeros, on every connection the CMS opens, so an
    # erased customer lingers in no free page of the file, its WAL or a backup (art. 17).
    conn.execute("PRAGMA secure_delete = ON")
    return conn  # type: ignore[return-value]


def _register_of(conn: sqlite3.Connection) -> Register:
    """The register stored in the sandbox.

    A sandbox built with other policy files than the shipped ones (an older template, or an
    empty register) first gets the shipped register, retention rules and locations.
    """
    shipped = default_register()
    query = "SELECT value FROM meta WHERE key = ?"

    def current() -> bool:
        return conn.execute(query, (FINGERPRINT_KEY,)).fetchone() == (fingerprint(),) \
            and conn.execute(query, (STORED_KEY,)).fetchone() == (stored_fingerprint(conn),)

    if not current():
        with scope.system(conn):
            if not current():
                # Same policy files, but the stored register no longer matches what the CMS
                # wrote: edited behind its back. It is not used; the log says so.
                edited = conn.execute(query, (FINGERPRINT_KEY,)).fetchone() == (fingerprint(),) \
                    and conn.execute(query, (STORED_KEY,)).fetchone() is not None
                install_policy(conn, shipped)
                if edited:
                    clock = conn.execute(query, ("clock_now",)).fetchone()
                    audit.append(
                        conn, at=clock[0] if clock else "", actor="cms", purpose=None,
                        action="register_restored", table="purposes",
                        columns=[], row_ids=[],
                        detail={"article": "30; 5(2)", "reason": "the stored register,"
                                " retention rules or locations were changed outside the CMS;"
                                " the shipped policy was written back"})
    rows = conn.execute(
        "SELECT name, title, legal_ground, article, columns, retention, description FROM purposes"
    ).fetchall()
    purposes = {}
    for name, title, ground, article, columns, retention, description in rows:
        internal = name in shipped.purposes and shipped.purposes[name].internal
        try:
            names = json.loads(columns)
            if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
                raise ValueError
        except (TypeError, ValueError):
            raise PolicyError(
                f"the register in this sandbox is damaged: purpose {name!r} has no readable"
                " list of columns (changed behind the CMS's back?); restore a backup or build"
                " the sandbox again"
            ) from None
        purposes[name] = Purpose(name, title, ground, article, frozenset(names),
                                 retention, description, internal)
    return Register(purposes, shipped.categories, shipped.personal_columns,
                    shipped.not_personal_tables)


def open_sandbox(path: str | Path, mode: str = "enforce", durable: bool = False) -> Sandbox:
    """Open an existing sandbox database (``mode``: "enforce" refuses, "record" logs).

    ``durable=True`` makes every commit wait for the disk (slower; see Sandbox).
    """
    return Sandbox(path, mode, durable)


def fresh_sandbox(
    scenario: str = "webshop",
    seed: int | None = None,
    customers: int | None = None,
    mode: str = "enforce",
    path: str | Path | None = None,
) -> Sandbox:
    """A new private copy of a scenario's sandbox.

    Without ``path`` it lives in a temporary folder that is removed when Python exits.
    """
    from sandbox_cms.data.build import fresh_copy

    if path is None:
        path = temporary_folder("sandbox-") / f"{scenario}.db"
    return Sandbox(fresh_copy(path, scenario=scenario, customers=customers, seed=seed), mode)


# -- temporary folders that never accumulate ------------------------------------------------

TEMP_PREFIXES = ("sandbox-", "grading-")
_OWNED = re.compile(r"^(?:sandbox|grading)-(?:.*-)?pid(\d+)-[^/]*$")


def temporary_folder(prefix: str = "sandbox-") -> Path:
    """A new temporary folder named after this process (``<prefix>pid<pid>-...``), removed
    when Python exits. A process killed before it could clean up (a kernel stopped with
    SIGKILL, an out-of-memory kill) leaves its folder behind: the next call, in any
    process, first removes the folders of processes that no longer run."""
    reap_stale_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}pid{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # gone when Python exits
    return folder


def reap_stale_folders(root: str | Path | None = None) -> list[Path]:
    """Remove this user's temporary sandbox and grading folders whose owning process is
    gone; return them. A folder of a running process (or of another user) is left alone."""
    root = Path(root if root is not None else tempfile.gettempdir())
    removed = []
    try:
        candidates = list(root.iterdir())
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for folder in candidates:
        match = _OWNED.match(folder.name)
        if match is None or not folder.name.startswith(TEMP_PREFIXES):
            continue
        try:
            if folder.is_symlink() or not folder.is_dir():
                continue
            if uid is not None and folder.stat().st_uid != uid:
                continue
        except OSError:
            continue
        if _running(int(match.group(1))):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or we cannot tell: keep the folder
    return True
