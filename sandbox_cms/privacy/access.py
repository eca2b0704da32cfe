"""Purpose-bound access, enforced below the Python API by sqlite3's authorizer.

SQLite asks the authorizer about every table and column a statement reads or writes while it
compiles the statement, also through ``SELECT *``, joins, subqueries, views and triggers. The
:class:`Gate` installed on a sandbox connection answers from precomputed sets:

- outside any purpose, reading or writing a personal column is a violation;
- inside a purpose (``with cms.processing("newsletter") as p``), a column the register does
  not list for that purpose is a violation (purpose limitation 5(1)(b), minimisation 5(1)(c));
- inserting or deleting rows of a table needs every personal column of it in the purpose
  (a row is written or removed whole); creating, altering or dropping tables and triggers
  (e.g. copying customers into a test table, CJEU C-77/21 Digi) is a violation in any scope;
- the CMS's own tables (audit log, meta, register) are never writable from outside, and
  ATTACH is always refused: record mode lets privacy mistakes happen, not evidence vanish.

In ``enforce`` mode a violation refuses the statement; in ``record`` mode it runs and the
violation lands in the audit log. A refusal raises :class:`PurposeViolation` (also a
``sqlite3.DatabaseError``) naming purpose, columns and article, also for SQL run straight on
the connection or its cursors. The callback only appends to lists; :class:`Processing` turns
them into audit entries, buffered and merged per block (see there).

Which customers a read was about (``row_ids`` of the audit entry): the values of a result
column named ``customer_id``, or of ``id`` when the statement read ``customers.id`` and no
other personal table's ``id``. Otherwise the entry records the number of rows only, with
``"customer_ids": "unknown"``. Column values are never logged.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

from sandbox_cms.core.clock import Clock
from sandbox_cms.core.errors import ProcessingError, PurposeViolation
from sandbox_cms.core.schema import DERIVED_TRIGGER_PREFIX, PROTECTED_TABLES
from sandbox_cms.privacy import actions, audit
from sandbox_cms.privacy.policy import Purpose, Register, schema_columns

MODES = ("enforce", "record")
FLUSH_EVERY = 256
# Who runs learner code: the Python default and the CLI's ``query``. They may not use an
# internal purpose of the register (``Purpose.internal``: DSRs, retention, consent records).
LEARNER_ACTORS = frozenset({"learner", "cli"})
# The CMS's own mechanisms. Only they open internal purposes, and only through the privileged
# route (``Sandbox._internal``); code that names one of them as its actor is refused.
INTERNAL_ACTORS = frozenset({"cms", "dsr", "retention", "consent", "storage", "import"})
_OK, _DENY = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY
_READ, _SELECT = sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT
_UPDATE, _INSERT, _DELETE = sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_DELETE
_ALWAYS_REFUSED = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})
_PRAGMA, _ALTER = sqlite3.SQLITE_PRAGMA, sqlite3.SQLITE_ALTER_TABLE
_SCHEMA_CHANGES = frozenset({
    sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_TEMP_TABLE, sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER, sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE,
})
_INDEX_CHANGES = frozenset({
    sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TEMP_INDEX, sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_DROP_TEMP_INDEX,
})
_EMPTY: frozenset[str] = frozenset()

Violation = tuple[str, str, str]  # (kind, table, column); kind: read, update, insert, ...


@dataclass(frozen=True)
class Rules:
    """What one scope (a purpose, or none) may touch, precomputed for the authorizer."""

    unreadable: dict[str, frozenset[str]]  # personal table -> columns this scope may not use
    whole_rows_refused: frozenset[str]  # tables this scope may not insert into or delete from


def rules_for(register: Register, purpose: Purpose | None) -> Rules:
    allowed = purpose.columns if purpose else _EMPTY
    unreadable: dict[str, frozenset[str]] = {}
    for table, columns in schema_columns().items():
        personal = {c for c in columns if f"{table}.{c}" in register.personal_columns}
        if personal:
            unreadable[table] = frozenset(c for c in personal if f"{table}.{c}" not in allowed)
    refused = PROTECTED_TABLES | {t for t, cols in unreadable.items() if cols}
    return Rules(unreadable, frozenset(refused))


class Gate:
    """The authorizer of one sandbox connection, with a stack of scopes.

    ``on_refusal(violations)`` turns a refused statement into the exception to raise (the
    facade also logs it); without it a plain :class:`PurposeViolation` is raised.
    """

    def __init__(self, conn: sqlite3.Connection, register: Register, mode: str,
                 on_refusal: Callable[[list[Violation]], Exception] | None = None) -> None:
        if mode not in MODES:
            raise ProcessingError(f"unknown mode {mode!r}: use 'enforce' or 'record'")
        self.conn, self.register, self.mode = conn, register, mode
        self.on_refusal = on_refusal
        self.reads: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str, str | None]] = []
        self.violations: list[Violation] = []
        self._stack: list[Purpose | None] = [None]
        self._rules: dict[str | None, Rules] = {}
        self._lifted = 0
        # Watching (the grader sets on_lift while a learner's code runs): every lift, and
        # every attempt to go around the gate on this connection (``bypasses``).
        self.on_lift: Callable[[], None] | None = None
        self.bypasses: list[str] = []
        self._install()

    @property
    def purpose(self) -> Purpose | None:
        return self._stack[-1]

    def push(self, purpose: Purpose | None) -> None:
        self._stack.append(purpose)
        self._install()

    def pop(self) -> None:
        if len(self._stack) > 1:
            self._stack.pop()
        self._install()

    @contextlib.contextmanager
    def lifted(self) -> Iterator[None]:
        """No checks inside: for the CMS's own reads and writes (audit log, clock, register)."""
        if self.on_lift is not None:
            self.on_lift()
        self._lifted += 1
        if self._lifted == 1:
            _set_authorizer(self.conn, None)
        try:
            yield
        finally:
            self._lifted -= 1
            if self._lifted == 0:
                self._install()

    def take(self) -> tuple[list[tuple[str, str]], list, list[Violation]]:
        """What the statements since the last call read, wrote and violated (then forget it)."""
        taken = (self.reads[:], self.writes[:], self.violations[:])
        self.reads.clear()
        self.writes.clear()
        self.violations.clear()
        return taken

    def _install(self) -> None:
        # set_authorizer also expires every prepared statement, so a statement cached under
        # another scope is compiled (and checked) again before it runs.
        if self._lifted:
            return
        purpose = self.purpose
        key = purpose.name if purpose else None
        if key not in self._rules:
            self._rules[key] = rules_for(self.register, purpose)
        refusal = _DENY if self.mode == "enforce" else _OK
        _set_authorizer(self.conn, self._authorizer(self._rules[key], refusal))

    def refusal(self, sql: str, params: Any) -> Exception | None:
        """The error for a statement SQLite just refused, if this gate refused it."""
        violations = self.take()[2]
        if not violations:
            return None
        violations = self.survey(sql, params) or violations
        if self.on_refusal is not None:
            return self.on_refusal(violations)
        columns = tuple(sorted({f"{t}.{c}" for _, t, c in violations}))
        return PurposeViolation(violation_message(self.purpose, violations, self.register),
                                self.purpose.name if self.purpose else None, columns)

    def survey(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Violation]:
        """Every violation of a statement (a refusal stops at the first): compile it under a
        recording authorizer with EXPLAIN, which reads no data."""
        purpose = self.purpose
        rules = self._rules.get(purpose.name if purpose else None) or rules_for(
            self.register, purpose)
        self.take()
        _set_authorizer(self.conn, self._authorizer(rules, _OK))
        try:
            self.conn.execute("EXPLAIN " + sql, params).fetchall()
        except sqlite3.Error:
            pass
        finally:
            self._install()
        return self.take()[2]

    def _authorizer(self, rules: Rules, refusal: int) -> Callable[..., int]:
        unreadable, refused_rows = rules.unreadable, rules.whole_rows_refused
        add_read, add_write = self.reads.append, self.writes.append
        add_violation = self.violations.append
        protected = PROTECTED_TABLES

        def authorize(action: int, arg1: str | None, arg2: str | None,
                      _database: str | None = None, source: str | None = None) -> int:
            if source is not None and source.startswith(DERIVED_TRIGGER_PREFIX) \
                    and action in (_READ, _SELECT, _INSERT, _DELETE, _UPDATE):
                return _OK  # the CMS's own bookkeeping (retention's stored last activity)
            if action == _READ:
                forbidden = unreadable.get(arg1)  # type: ignore[arg-type]
                if forbidden is not None:
                    add_read((arg1, arg2))
                    if arg2 in forbidden:
                        add_violation(("read", arg1, arg2))
                        return refusal
                return _OK
            if action == _SELECT:
                return _OK
            if action == _UPDATE:
                if arg1 in _SCHEMA_TABLES:
                    # SQLite's own bookkeeping when a statement first uses a table-valued
                    # function (json_each, ...): no row changes (writable_schema is refused)
                    return _OK
                add_write(("update", arg1, arg2))
                if arg1 in protected:
                    add_violation(("update", arg1, arg2))
                    return _DENY
                if arg2 in unreadable.get(arg1, _EMPTY):  # type: ignore[arg-type]
                    add_violation(("update", arg1, arg2))
                    return refusal
                return _OK
            if action in (_INSERT, _DELETE):
                kind = "insert" if action == _INSERT else "delete"
                add_write((kind, arg1, None))
                if arg1 in protected:
                    add_violation((kind, arg1, "*"))
                    return _DENY
                if arg1 in refused_rows:
                    add_violation((kind, arg1, "*"))
                    return refusal
                return _OK
            if action in _SCHEMA_CHANGES or action in _INDEX_CHANGES:
                # arg1/arg2: table (and column), index or trigger name and its table, or
                # database and table (ALTER TABLE)
                if arg1 in protected or arg2 in protected:
                    add_violation(("schema", arg1 if arg1 in protected else arg2, "*"))
                    return _DENY  # record mode too: the CMS's own tables stay as they are
                if action in _INDEX_CHANGES:
                    return _OK  # an index copies no data and changes no row
                if action == _ALTER:
                    add_violation(("schema", arg2 or "", "*"))  # arg1 is the database
                else:
                    add_violation(("schema", arg1 or "", arg2 or "*"))
                return refusal
            if action in _ALWAYS_REFUSED:
                add_violation(("attach", arg1 or "", ""))
                return _DENY
            if action == _PRAGMA and arg2 is not None and arg1 \
                    and arg1.lower() == "writable_schema":  # would let sqlite_master be edited
                add_violation(("pragma", "sqlite_master", "*"))
                return _DENY
            return _OK

        return authorize


_execute = sqlite3.Connection.execute
_set_authorizer = sqlite3.Connection.set_authorizer
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master",
                            "sqlite_temp_schema"})


def _raise_refusal(conn: sqlite3.Connection, exc: sqlite3.DatabaseError, sql: str,
                   params: Any) -> None:
    gate = getattr(conn, "gate", None)
    if gate is not None and getattr(exc, "sqlite_errorname", "") == "SQLITE_AUTH" \
            and not isinstance(exc, PurposeViolation):
        error = gate.refusal(sql, params)
        if error is not None:
            raise error from exc


class GuardedCursor(sqlite3.Cursor):
    """A cursor whose refused statements raise :class:`PurposeViolation` with the full story."""

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            _raise_refusal(self.connection, exc, sql, parameters)
            raise

    def executemany(self, sql: str, parameters: Any, /) -> GuardedCursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.DatabaseError as exc:
            _raise_refusal(self.connection, exc, sql, ())
            raise


class GuardedConnection(sqlite3.Connection):
    """The sandbox's connection: carries its gate (``conn.gate``) and, like its cursors,
    turns a refusal into a :class:`PurposeViolation` (still a ``sqlite3.DatabaseError``).

    What would go around the gate is refused and noted in ``gate.bypasses``: replacing the
    authorizer or the trace callback, copying the database with the backup API or
    ``serialize`` (use ``cms.storage.backup``), reading a value with ``blobopen``, loading
    extensions."""

    gate: Gate | None = None

    def _bypass(self, what: str) -> PurposeViolation:
        if self.gate is not None:
            self.gate.bypasses.append(what)
        return PurposeViolation(
            f"{what} on the sandbox's connection is refused: it would read or copy the data"
            " around the purpose gate and the audit log (purpose limitation, art. 5(1)(b);"
            " accountability, art. 5(2)). Read inside a purpose (`with cms.processing(...)`);"
            " back up with cms.storage.backup", None)

    def set_authorizer(self, *args: Any, **kwargs: Any) -> None:
        raise self._bypass("set_authorizer")

    def set_trace_callback(self, *args: Any, **kwargs: Any) -> None:
        raise self._bypass("set_trace_callback")

    def backup(self, *args: Any, **kwargs: Any) -> None:
        raise self._bypass("the backup API (Connection.backup)")

    def serialize(self, *args: Any, **kwargs: Any) -> bytes:
        raise self._bypass("serialize")

    def blobopen(self, *args: Any, **kwargs: Any) -> Any:
        raise self._bypass("blobopen (incremental I/O, which no authorizer sees)")

    def deserialize(self, *args: Any, **kwargs: Any) -> None:
        raise self._bypass("deserialize")

    def enable_load_extension(self, *args: Any, **kwargs: Any) -> None:
        raise self._bypass("enable_load_extension")

    def load_extension(self, *args: Any, **kwargs: Any) -> None:
        raise self._bypass("load_extension")

    def cursor(self, factory: Any = GuardedCursor) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            _raise_refusal(self, exc, sql, parameters)
            raise

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.DatabaseError as exc:
            _raise_refusal(self, exc, sql, ())
            raise


def violation_message(purpose: Purpose | None, violations: Sequence[Violation],
                      register: Register) -> str:
    """A message naming the purpose, the columns and the article."""
    kinds = {kind for kind, _, _ in violations}
    columns = sorted({f"{t}.{c}" for _, t, c in violations})
    if kinds & {"attach"}:
        return ("attaching another database is refused: it would bypass the processing"
                " register (art. 30) and the audit log")
    if kinds & {"pragma"}:
        return ("PRAGMA writable_schema is refused: it would let the schema of the audit log"
                " and the register be rewritten behind the CMS (accountability, art. 5(2))")
    if any(t in PROTECTED_TABLES and k != "read" for k, t, _ in violations):
        tables = sorted({t for k, t, _ in violations if t in PROTECTED_TABLES and k != "read"})
        return (f"{', '.join(tables)} can only be changed by the CMS itself: the audit log is"
                " append-only (accountability, art. 5(2))")
    if kinds & {"schema"}:
        where = f"purpose {purpose.name!r}" if purpose else "code outside any purpose"
        return (f"{where} may not change the database schema ({', '.join(columns)}): a copy"
                " of customer data is further processing (art. 5(1)(b), 6(4); CJEU C-77/21 Digi)")
    verb = "read" if kinds <= {"read"} else "read or write"
    if purpose is None:
        return (f"reading personal data needs a declared purpose: {', '.join(columns)} was used"
                " outside any purpose (purpose limitation, art. 5(1)(b); register, art. 30)."
                " Use e.g. `with cms.processing('order_fulfilment') as p: p.query(...)`;"
                f" purposes: {', '.join(sorted(register.purposes))}")
    tables = sorted({c.partition(".")[0] for c in columns})
    allowed = sorted(c for c in purpose.columns if c.partition(".")[0] in tables)
    them = "it" if len(columns) == 1 else "them"
    return (f"purpose {purpose.name!r} may not {verb} {', '.join(columns)}: the register does"
            f" not list {them} for this purpose (purpose limitation, art. 5(1)(b); data"
            f" minimisation, art. 5(1)(c)). Allowed there: {', '.join(allowed) or 'nothing'}")


@dataclass(frozen=True)
class Statement:
    """What one statement touched, summarised once per scope (statements repeat in loops)."""

    columns: tuple[str, ...]  # 'table.column' read or written ('table.*' for a whole row)
    violations: tuple[str, ...]  # the ones outside the scope
    kinds: tuple[str, ...]  # read, update, insert, delete, schema, attach, pragma
    writes: bool
    id_is_customer: bool  # a result column 'id' can only be customers.id


def summarise(reads: list[tuple[str, str]], writes: list, violations: list[Violation]
              ) -> Statement | None:
    columns = {f"{t}.{c}" for t, c in reads if c}
    columns.update(f"{t}.{c or '*'}" for _, t, c in writes)
    if not columns and not violations:
        return None
    return Statement(
        columns=tuple(sorted(columns)),
        violations=tuple(sorted({f"{t}.{c}" for _, t, c in violations})),
        kinds=tuple(sorted({k for k, _, _ in violations})),
        writes=bool(writes),
        id_is_customer=("customers", "id") in reads
        and not any(c == "id" and t != "customers" for t, c in reads),
    )


def _customer_ids(names: Sequence[str], rows: Sequence[Sequence[Any]],
                  id_is_customer: bool) -> set[int] | None:
    if "customer_id" in names:
        index = names.index("customer_id")
    elif id_is_customer and "id" in names:
        index = names.index("id")
    else:
        return None
    ids = set(map(itemgetter(index), rows))
    if not set(map(type, ids)) <= {int}:  # NULL (an unlinked row) or a value of another type
        ids = {i for i in ids if type(i) is int}
    return ids


class ProcessingHost(Protocol):
    """What a processing context needs of the sandbox it runs in (``cms.Sandbox`` is one):
    the mechanism knows the facade only through this, so nothing here imports upward."""

    mode: str
    connection: sqlite3.Connection
    register: Register
    gate: Gate
    clock: Clock
    audit: audit.AuditLog

    def _enter(self, processing: Processing) -> None: ...

    def _exit(self, processing: Processing) -> None: ...


class Processing:
    """``with cms.processing(purpose) as p``: read and act on personal data for one purpose.

    Audit entries wait in a buffer until the block ends, an action runs, the clock moves or
    ``FLUSH_EVERY`` distinct entries are waiting. Statements with the same action and
    columns are merged into one entry while they wait: it counts ``statements`` and ``rows``
    and holds the union of the customer ids, so a loop of 10,000 look-ups is one entry.
    """

    def __init__(self, sandbox: ProcessingHost, purpose: Purpose | None, actor: str = "learner",
                 *, privileged: bool = False) -> None:
        self.sandbox, self.purpose, self.actor = sandbox, purpose, actor
        self.name = purpose.name if purpose else None
        self.privileged = privileged
        # Every context has its own session id, recorded in each of its audit entries, so
        # the grader can tell the context it handed over from any other one.
        self.session = secrets.token_hex(6)
        self._pending: dict[tuple, dict[str, Any]] = {}
        self._seen: dict[str, Statement | None] = {}
        self._active = False
        self._depth = 0
        self._now = ""

    @property
    def connection(self) -> sqlite3.Connection:
        return self.sandbox.connection

    def __enter__(self) -> Processing:
        if self._active:
            if self.privileged and self._depth:  # a handed-over context used in a with block
                self._depth += 1
                return self
            raise ProcessingError("this processing block is already open")
        if not self.privileged:
            if str(self.actor).strip().lower() in INTERNAL_ACTORS:
                self._internal_actor_named()
            if self.purpose is not None and self.purpose.internal:
                self._internal_purpose_used()
        self.sandbox._enter(self)
        self._active = True
        self._depth = 1
        self._now = self.sandbox.clock.now().isoformat()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._depth > 1:
            self._depth -= 1
            return
        self._depth = 0
        try:
            self._collect_stray()
            self.flush()
        finally:
            self._active = False
            self.sandbox._exit(self)

    def _internal_purpose_used(self) -> None:
        """Learner code declared an internal purpose: refuse (enforce) or log it (record)."""
        purpose, mode = self.purpose, self.sandbox.mode
        assert purpose is not None
        message = (
            f"purpose {purpose.name!r} is internal to the CMS ({purpose.title.lower()}): only"
            " its own mechanisms run it (cms.dsr, cms.retention, cms.consent), so code of"
            f" {self.actor!r} may not borrow it to read what its real purpose may not (purpose"
            " limitation, art. 5(1)(b)). Declare the purpose your code serves; see"
            " `sandbox-cms register`"
        )
        self.sandbox.audit.append(
            actor=self.actor, purpose=purpose.name,
            action="refused" if mode == "enforce" else "violation", table=None, columns=[],
            row_ids=[], detail={"kinds": ["internal_purpose"], "article": "5(1)(b)",
                                "mode": mode, "session": self.session},
        )
        if mode == "enforce":
            raise PurposeViolation(message, purpose.name)

    def _internal_actor_named(self) -> None:
        """Code outside the CMS named one of its mechanisms as actor: refuse or log it, and
        log whatever it does as ``learner``."""
        claimed, mode = self.actor, self.sandbox.mode
        self.actor = "learner"
        self.sandbox.audit.append(
            actor="learner", purpose=self.name,
            action="refused" if mode == "enforce" else "violation", table=None, columns=[],
            row_ids=[], detail={"kinds": ["internal_actor"], "actor": claimed,
                                "article": "5(1)(b)", "mode": mode, "session": self.session},
        )
        if mode == "enforce":
            raise PurposeViolation(
                f"actor {claimed!r} is one of the CMS's own mechanisms: only the CMS acts under"
                " that name, so other code may not claim it to pass as the sandbox (purpose"
                " limitation, art. 5(1)(b); accountability, art. 5(2))", self.name)

    def _check_open(self) -> None:
        if not self._active:
            raise ProcessingError(
                "use the processing context in a with block: "
                f"`with cms.processing({self.name!r}) as p: ...`"
            )

    def _time_changed(self, now: str) -> None:
        self.flush()
        self._now = now

    # -- reading and writing with SQL ------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Run a SELECT (any SQL, checked column by column) and return the rows as dicts."""
        if not self._active:
            self._check_open()
        gate = self.sandbox.gate
        if gate.reads or gate.writes or gate.violations:
            self._collect_stray()
        conn = self.sandbox.connection
        try:
            cursor = _execute(conn, sql, params)  # the C method: no wrapper on the hot path
            rows = cursor.fetchall()
        except sqlite3.DatabaseError as exc:
            self._seen.pop(sql, None)
            _raise_refusal(conn, exc, sql, params)
            raise
        statement = self._statement(sql, gate)
        names = [d[0] for d in cursor.description] if cursor.description else []
        if statement is not None:
            ids = _customer_ids(names, rows, statement.id_is_customer)
            self._record("write" if statement.writes else "read", statement, ids, len(rows))
        return [dict(zip(names, row)) for row in rows]  # noqa: B905 (same length by design)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = (),
                customer_ids: Iterable[int] | None = None) -> int:
        """Run a writing statement (checked like a query); return the number of rows changed.

        Pass ``customer_ids`` to record whom the change was about.
        """
        self._check_open()
        gate = self.sandbox.gate
        self._collect_stray()
        conn = self.sandbox.connection
        try:
            cursor = _execute(conn, sql, params)
        except sqlite3.DatabaseError as exc:
            self._seen.pop(sql, None)
            _raise_refusal(conn, exc, sql, params)
            raise
        changed = max(cursor.rowcount, 0)
        statement = self._statement(sql, gate)
        if statement is not None:
            ids = None if customer_ids is None else list(customer_ids)
            self._record("write" if statement.writes else "read", statement, ids, changed)
        return changed

    def _statement(self, sql: str, gate: Gate) -> Statement | None:
        # A statement Python's sqlite3 module cached is not compiled again, so the authorizer
        # stays silent: reuse what it reported the first time in this scope.
        if gate.reads or gate.writes or gate.violations:
            statement = summarise(*gate.take())
            self._seen[sql] = statement
            return statement
        return self._seen.get(sql)

    def refused(self, violations: list[Violation]) -> PurposeViolation:
        """Log a refused statement in this block and return the error to raise."""
        columns = tuple(sorted({f"{t}.{c}" for _, t, c in violations}))
        kinds = tuple(sorted({k for k, _, _ in violations}))
        self._add("refused", columns, [], None, self._violation_detail(kinds))
        message = violation_message(self.purpose, violations, self.sandbox.register)
        return PurposeViolation(message, self.name, columns)

    def _collect_stray(self) -> None:
        """Log what statements run directly on the connection touched since the last check."""
        statement = summarise(*self.sandbox.gate.take())
        if statement is not None:
            self._record("write" if statement.writes else "read", statement, None, None,
                         (("via", "connection"),))

    def _violation_detail(self, kinds: tuple[str, ...], *more: tuple[str, Any]) -> tuple:
        return (("kinds", kinds), ("article", "5(1)(b), 5(1)(c)"), ("mode", self.sandbox.mode),
                *more)

    def _record(self, action: str, statement: Statement, ids: list[int] | None,
                rows: int | None, extra: tuple = ()) -> None:
        self._add(action, statement.columns, ids, rows, extra)
        if statement.violations:
            self._add("violation", statement.violations, ids, None,
                      self._violation_detail(statement.kinds))

    def _add(self, action: str, columns: tuple[str, ...], ids: Iterable[int] | None,
             rows: int | None, extra: tuple = ()) -> None:
        key = (action, columns, ids is None, extra)
        entry = self._pending.get(key)
        if entry is None:
            if len(self._pending) >= FLUSH_EVERY:
                self.flush()
            entry = self._pending[key] = {"ids": set(), "rows": None, "statements": 0}
        if ids:
            if entry["ids"]:
                entry["ids"].update(ids)
            else:
                entry["ids"] = set(ids)
        if rows is not None:
            entry["rows"] = (entry["rows"] or 0) + rows
        entry["statements"] += 1

    def flush(self) -> None:
        """Write the buffered audit entries (hash-chained, one transaction)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        entries = []
        for (action, columns, unknown, extra), entry in pending.items():
            detail: dict[str, Any] = dict(extra)
            detail["session"] = self.session
            if entry["rows"] is not None:
                detail["rows"] = entry["rows"]
            if entry["statements"] > 1:
                detail["statements"] = entry["statements"]
            if unknown and action in ("read", "write", "violation"):
                detail["customer_ids"] = "unknown"
            tables = sorted({c.partition(".")[0] for c in columns})
            entries.append(dict(
                at=self._now, actor=self.actor, purpose=self.name, action=action,
                table=",".join(tables) or None, columns=columns, row_ids=entry["ids"],
                detail={k: list(v) if isinstance(v, tuple) else v for k, v in detail.items()}
                or None,
            ))
        audit.append_many(self.sandbox.connection, entries)

    # -- checks the actions use --------------------------------------------------------------

    def require(self, columns: Iterable[str], doing: str) -> list[str]:
        """Refuse (enforce) or record (record mode) columns outside this purpose; return them."""
        self._check_open()
        needed = sorted(set(columns))
        allowed = self.purpose.columns if self.purpose else _EMPTY
        missing = [c for c in needed if c not in allowed]
        if missing:
            violations = [("read", *c.split(".", 1)) for c in missing]
            message = violation_message(self.purpose, violations, self.sandbox.register)
            detail = self._violation_detail(("action",), ("action", doing))
            if self.sandbox.mode == "enforce":
                self._add("refused", tuple(missing), [], None, detail)
                self.flush()
                raise PurposeViolation(f"{doing}: {message}", self.name, tuple(missing))
            self._add("violation", tuple(missing), [], None, detail)
        return missing

    # -- actions (see sandbox_cms.privacy.actions) ---------------------------------------

    def send_mailing(self, customer_ids: Iterable[int], subject: str) -> int:
        """Send a mailing to these customers; returns the mailing id."""
        return actions.send_mailing(self, customer_ids, subject)

    def share(self, recipient: str, customer_ids: Iterable[int], columns: Iterable[str]) -> int:
        """Disclose these columns of these customers to a third party; returns rows recorded."""
        return actions.share(self, recipient, customer_ids, columns)

    def export(self, customer_ids: Iterable[int], columns: Iterable[str]) -> list[dict[str, Any]]:
        """Hand these columns of these customers out of the CMS (one dict per customer)."""
        return actions.export(self, customer_ids, columns)

    def delete(self, table: str, ids: Iterable[int]) -> int:
        """Delete rows of ``table`` by id; returns the number deleted."""
        return actions.delete(self, table, ids)

    def anonymise(self, customer_ids: Iterable[int]) -> int:
        """Remove the identifying data from these customer records; returns how many."""
        return actions.anonymise(self, customer_ids)

    def __repr__(self) -> str:
        return f"<Processing purpose={self.name!r} mode={self.sandbox.mode!r}>"
