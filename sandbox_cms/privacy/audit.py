"""The audit log: append-only and hash-chained, holding ids and column names, never values.

Each entry stores when (simulated clock), who (actor), why (purpose), what (action, table,
columns) and about whom (``row_ids``: the ids of the customers the entry is about, see
docs/python-api.md), plus an optional ``detail`` dict. Its hash is
``sha256(prev_hash + canonical JSON of the entry)``, so changing, removing or inserting an
entry breaks the chain from there on. The number of entries and the last hash are also kept
in ``meta`` (``audit_count``, ``audit_head``), written in the same transaction as the entry,
so cutting entries off the end is evident too.

The chain proves tampering only to someone who kept an earlier head (``AuditLog.head()``):
whoever can rewrite the whole file can also recompute every hash. That limit is documented,
not hidden.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox_cms.core import scope
from sandbox_cms.core.errors import AuditLogDamaged

GENESIS = "0" * 64
HEAD_KEY = "audit_head"
COUNT_KEY = "audit_count"
COLUMNS = ("seq", "at", "actor", "purpose", "action", "table_name", "columns", "row_ids",
           "detail", "prev_hash", "hash")
_INSERT_SQL = (
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    actor: str
    purpose: str | None
    action: str
    table: str | None
    columns: tuple[str, ...]
    row_ids: tuple[int, ...]
    detail: dict[str, Any] | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    """The last entry of a log found intact: its sequence number and hash. Handed back to
    :func:`verify` (``since=``), only the entries after it are walked."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`: ``ok``, how many entries, the first broken one, why;
    for an intact log also the :class:`Checkpoint` to continue from next time."""

    ok: bool
    entries: int
    first_broken: int | None
    message: str
    checkpoint: Checkpoint | None = field(default=None, compare=False)

    def __bool__(self) -> bool:
        return self.ok


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, fields: Sequence[Any]) -> str:
    """The hash of one entry: its stored fields (seq … detail) chained to the previous hash."""
    return hashlib.sha256((prev_hash + _canonical(list(fields))).encode()).hexdigest()


def _time(at: dt.datetime | dt.date | str) -> str:
    if isinstance(at, dt.datetime):
        return at.replace(microsecond=0).isoformat()
    if isinstance(at, dt.date):
        return dt.datetime(at.year, at.month, at.day).isoformat()
    return str(at)


def _ids(row_ids: Iterable[int] | None) -> list[int]:
    ids = row_ids if isinstance(row_ids, set | frozenset) else set(row_ids or ())
    if not set(map(type, ids)) <= {int}:  # checked in C: bool, None and str are refused
        wrong = next(v for v in ids if type(v) is not int)
        raise TypeError(f"audit row ids must be integers, not {wrong!r}")
    return sorted(ids)


def _head(conn: sqlite3.Connection) -> tuple[str, int]:
    rows = dict(conn.execute(
        "SELECT key, value FROM meta WHERE key IN (?, ?)", (HEAD_KEY, COUNT_KEY)
    ).fetchall())
    count = rows.get(COUNT_KEY, 0)
    try:
        return str(rows.get(HEAD_KEY, GENESIS)), int(count)
    except (TypeError, ValueError):
        raise AuditLogDamaged(
            f"the audit log's entry count in meta ({COUNT_KEY} = {str(count)[:40]!r}) was changed"
            " behind the CMS's back, so no entry can be added or checked; restore a backup"
        ) from None


def append(
    conn: sqlite3.Connection,
    *,
    at: dt.datetime | dt.date | str,
    actor: str,
    purpose: str | None,
    action: str,
    table: str | None,
    columns: Iterable[str],
    row_ids: Iterable[int] | None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one entry (in the caller's transaction, if any) and return its sequence number.

    ``row_ids`` are customer ids; ``detail`` must hold no personal values (ids, counts and
    column names are fine).
    """
    return append_many(conn, [dict(at=at, actor=actor, purpose=purpose, action=action,
                                   table=table, columns=columns, row_ids=row_ids,
                                   detail=detail)])[-1]


def append_many(conn: sqlite3.Connection, entries: Iterable[dict[str, Any]]) -> list[int]:
    """Append several entries (keyword dicts as for :func:`append`) in one transaction."""
    with scope.system(conn):
        prev, count = _head(conn)
        rows = []
        for e in entries:
            count += 1
            fields = (
                count, _time(e["at"]), str(e["actor"]), e.get("purpose"), str(e["action"]),
                e.get("table"), _canonical(sorted(set(e.get("columns") or ()))),
                _canonical(_ids(e.get("row_ids"))),
                None if e.get("detail") is None else _canonical(e["detail"]),
            )
            digest = entry_hash(prev, fields)
            rows.append((*fields, prev, digest))
            prev = digest
        if not rows:
            return []
        conn.executemany(_INSERT_SQL, rows)
        conn.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [(HEAD_KEY, prev), (COUNT_KEY, str(count))],
        )
    _bear_witness(conn, rows)
    return [row[0] for row in rows]


WITNESS_ENV = "SANDBOX_AUDIT_WITNESS"
"""Names a file to which every process appends ``{"db", "seq", "hash"}`` of each entry it
writes (set by the grader while a learner's code runs, so an entry written by the
``sandbox-cms`` command in another process is known to be the sandbox's own)."""


def _bear_witness(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    target = os.environ.get(WITNESS_ENV)
    if not target or not rows:
        return
    try:
        with scope.system(conn, write=False):
            db = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"),
                      "")
        with open(target, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"db": os.path.realpath(db) if db else "",
                                      "seq": row[0], "hash": row[-1]}) + "\n" for row in rows)
    except (OSError, sqlite3.Error):
        pass


def witnessed(path: str | os.PathLike[str], db: str | os.PathLike[str]) -> dict[int, str]:
    """``{seq: hash}`` of the entries a witness file records for database ``db``."""
    found: dict[int, str] = {}
    wanted = os.path.realpath(db)
    with contextlib.suppress(OSError):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, TypeError, KeyError):
                entry = json.loads(line)
                if entry["db"] == wanted:
                    found[int(entry["seq"])] = str(entry["hash"])
    return found


def verify(conn: sqlite3.Connection, expected_head: str | None = None,
           since: Checkpoint | None = None) -> Verification:
    """Walk the chain; name the first entry that was changed, removed or inserted.

    The recorded head and the entries are read in one transaction (one snapshot), so an
    entry appended meanwhile by another connection cannot look like tampering.

    With ``since`` (the checkpoint of an earlier intact verification) only the entries after
    it are walked, from that entry's hash: the check that a page shown often can afford. It
    still finds any change to the checkpoint's own entry, to anything after it, and entries
    cut off the end; a rewrite of an entry *before* the checkpoint is found only by a full
    verification (without ``since``), which the audit page and ``sandbox-cms audit verify``
    run every time.
    """
    own_snapshot = not conn.in_transaction
    if own_snapshot:
        conn.execute("BEGIN")
    try:
        return _verify(conn, expected_head, since if since and since.seq > 0 else None)
    finally:
        if own_snapshot and conn.in_transaction:
            conn.execute("COMMIT")


def _verify(conn: sqlite3.Connection, expected_head: str | None,
            since: Checkpoint | None) -> Verification:
    with scope.system(conn, write=False):
        try:
            head, count = _head(conn)
        except AuditLogDamaged as exc:
            return _broken(0, None, str(exc))
        if since is None:
            cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY seq")
            prev, expected_seq, seen = GENESIS, 1, 0
        else:
            if count < since.seq:
                return _broken(count, count + 1, f"the CMS now counts {count} entries, fewer"
                               f" than the {since.seq} found intact before: entries were removed")
            row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE seq = ?",
                               (since.seq,)).fetchone()
            if row is None:
                return _broken(since.seq - 1, since.seq, f"entry {since.seq}, found intact"
                               " before, is missing (entries were deleted)")
            if row[10] != since.hash or _hash_or_none(row[9], row[:9]) != row[10]:
                return _broken(since.seq - 1, since.seq, f"entry {since.seq} was changed after"
                               " it was found intact")
            cursor = conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE seq > ? ORDER BY seq",
                (since.seq,))
            prev, expected_seq, seen = since.hash, since.seq + 1, since.seq
        for row in cursor:
            seq, fields, prev_hash, digest = row[0], row[:9], row[9], row[10]
            seen += 1
            if seq > count:
                return _broken(seen - 1, seq, f"entry {seq} was added behind the CMS's back"
                               f" (the CMS wrote {count} entries)")
            if seq != expected_seq:
                if seq > expected_seq:
                    return _broken(seen - 1, expected_seq, f"entry {expected_seq} is missing:"
                                   f" the next entry found is {seq} (entries were deleted)")
                return _broken(seen - 1, seq, f"entry {seq} is out of place (inserted)")
            if prev_hash != prev:
                broken = max(seq - 1, 1)
                return _broken(seen - 1, broken, f"entry {broken} was rewritten or entry {seq}"
                               f" inserted: entry {seq} does not link to the entry before it")
            if _hash_or_none(prev, fields) != digest:
                return _broken(seen - 1, seq, f"entry {seq} was changed after it was written"
                               " (its content no longer matches its hash)")
            prev, expected_seq = digest, expected_seq + 1
    if seen != count or prev != head:
        if seen < count:
            return _broken(seen, seen + 1, f"the log ends at entry {seen}, but the CMS wrote"
                           f" {count}: entries {seen + 1}..{count} were removed")
        if seen > count:
            return _broken(seen, count + 1, f"the CMS wrote {count} entries but the log holds"
                           f" {seen}: entries after {count} were added behind its back")
        return _broken(seen, seen or None, f"entry {seen} was rewritten: the log no longer"
                       " ends in the hash the CMS recorded")
    if expected_head is not None and expected_head != head:
        return _broken(seen, None, "the whole log differs from the head you kept")
    checkpoint = Checkpoint(seen, prev) if seen else None
    if since is None:
        return Verification(True, seen, None, f"audit log intact: {seen} entries", checkpoint)
    walked = f"entries {since.seq + 1}..{seen}" if seen > since.seq else "no new entries"
    return Verification(True, seen, None, f"audit log intact: {seen} entries ({walked} checked"
                        f" now, entries 1..{since.seq} at an earlier check; a full check walks"
                        " them all)", checkpoint)


def _hash_or_none(prev: str, fields: Sequence[Any]) -> str | None:
    try:
        return entry_hash(prev, fields)
    except (TypeError, ValueError):  # a value the CMS never writes (e.g. bytes)
        return None


def _broken(entries: int, seq: int | None, message: str) -> Verification:
    return Verification(False, entries, seq, f"audit log broken: {message}")


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(number of entries, hash of the last): keep it elsewhere to detect a rewritten log."""
    with scope.system(conn, write=False):
        digest, count = _head(conn)
    return count, digest


def entries(
    conn: sqlite3.Connection,
    purpose: str | None = None,
    customer_id: int | None = None,
    action: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[Entry]:
    """Entries matching all the given filters, oldest first (or newest first)."""
    where, params = [], []
    if purpose is not None:
        where.append("purpose = ?")
        params.append(purpose)
    if action is not None:
        where.append("action = ?")
        params.append(action)
    if customer_id is not None:
        if isinstance(customer_id, int) and not -(2**63) <= customer_id < 2**63:
            # no row id can be that large (and SQLite could not bind it)
            return []
        where.append(  # an entry whose row_ids were tampered into non-JSON matches no one
            "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(audit_log.row_ids)"
            " THEN audit_log.row_ids ELSE '[]' END) WHERE value = ?)"
        )
        params.append(customer_id)
    sql = f"SELECT {', '.join(COLUMNS)} FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    with scope.system(conn, write=False):
        rows = conn.execute(sql, params).fetchall()
    return [_entry(row) for row in rows]


def _entry(row: Sequence[Any]) -> Entry:
    columns, row_ids, detail = (_parsed(value) for value in row[6:9])
    if isinstance(detail, dict | None) and isinstance(columns, list) \
            and isinstance(row_ids, list):
        return Entry(
            seq=row[0], at=row[1], actor=row[2], purpose=row[3], action=row[4], table=row[5],
            columns=tuple(columns), row_ids=tuple(row_ids), detail=detail,
            prev_hash=row[9], hash=row[10],
        )
    # Changed behind the CMS's back into something that is not the JSON it writes: show the
    # stored text as it is (``verify`` names the entry as broken).
    return Entry(
        seq=row[0], at=row[1], actor=row[2], purpose=row[3], action=row[4], table=row[5],
        columns=(), row_ids=(), detail={"unreadable": dict(zip(
            ("columns", "row_ids", "detail"), map(str, row[6:9]), strict=True))},
        prev_hash=row[9], hash=row[10],
    )


_UNREADABLE = object()


def _parsed(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return _UNREADABLE


class AuditLog:
    """``cms.audit``: the audit log of one sandbox."""

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox

    @property
    def _conn(self) -> sqlite3.Connection:
        self._sandbox.flush()
        return self._sandbox.connection

    def append(self, *, actor: str = "cms", purpose: str | None, action: str,
               table: str | None = None, columns: Iterable[str] = (),
               row_ids: Iterable[int] | None = (), detail: dict[str, Any] | None = None,
               at: dt.datetime | str | None = None) -> int:
        """Append an entry at the sandbox clock's time (see :func:`append`)."""
        conn = self._conn
        return append(conn, at=at or self._sandbox.clock.now(), actor=actor, purpose=purpose,
                      action=action, table=table, columns=columns, row_ids=row_ids, detail=detail)

    def entries(self, purpose: str | None = None, customer_id: int | None = None,
                action: str | None = None, limit: int | None = None,
                newest_first: bool = False) -> list[Entry]:
        return entries(self._conn, purpose, customer_id, action, limit, newest_first)

    def verify(self, expected_head: str | None = None,
               since: Checkpoint | None = None) -> Verification:
        """The whole chain, or with ``since`` only the entries after that checkpoint
        (see :func:`verify`)."""
        return verify(self._conn, expected_head, since)

    def head(self) -> tuple[int, str]:
        return head(self._conn)

    def __len__(self) -> int:
        return self.head()[0]
