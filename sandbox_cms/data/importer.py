"""Import customer records (CSV, JSON or JSON Lines) into a sandbox, all or nothing.

Every record passes the guard (:func:`sandbox_cms.data.guard.check_customer`). If any record is
refused, every refusal is reported with its line ("line 7: ...") and nothing is written.
Accepted records are inserted in one transaction together with a ``provenance`` row naming
the file and its SHA-256, so each imported customer can be traced to its source, and an
``import`` entry in the audit log (customer ids and column names, no values).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox_cms.core.clock import META_KEY as CLOCK_KEY
from sandbox_cms.core.errors import ImportRefused, NotASandbox, RecordFileError, SandboxError
from sandbox_cms.core.version import __version__
from sandbox_cms.data.guard import (
    CUSTOMER_FIELDS,
    REQUIRED_FIELDS,
    check_customer,
    is_national_id_field,
)
from sandbox_cms.data.records import (
    MAX_BYTES,
    MAX_RECORDS,
    detect_format,
    file_sha256,
    read_records,
)
from sandbox_cms.data.reference import load_reference
from sandbox_cms.privacy import audit

SANDBOX_TABLES = ("meta", "provenance", "customers")


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    file: str
    sha256: str
    inserted: int
    provenance_id: int
    customer_ids: tuple[int, ...]


def connect_sandbox(db_path: Path) -> sqlite3.Connection:
    """Open an existing sandbox for writing; NotASandbox if the file is not one."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise NotASandbox(f"{db_path}: no such sandbox database")
    with db_path.open("rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise NotASandbox(f"{db_path}: not a SQLite database, so not a sandbox")
    uri = db_path.resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = {row[0] for row in tables}
        missing = [t for t in SANDBOX_TABLES if t not in names]
        if missing:
            raise NotASandbox(f"{db_path}: not a sandbox (no table {', '.join(missing)})")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise NotASandbox(f"{db_path}: cannot be read as a sandbox ({exc})") from None
    except NotASandbox:
        conn.close()
        raise
    return conn


def _clock_now(conn: sqlite3.Connection, db_path: Path) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (CLOCK_KEY,)).fetchone()
    if row is None:
        raise NotASandbox(f"{db_path}: not a sandbox (meta has no '{CLOCK_KEY}')")
    return row[0]


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _check_columns(columns: list[str], name: str) -> None:
    """A CSV header must hold the required columns and no columns the sandbox does not know."""
    missing = [c for c in REQUIRED_FIELDS if c not in columns]
    if missing:
        raise RecordFileError(f"{name}: missing required column(s): {', '.join(missing)}")
    unknown = [c for c in columns if c not in CUSTOMER_FIELDS and not is_national_id_field(c)]
    if unknown:
        raise RecordFileError(
            f"{name}: unknown column(s): {', '.join(unknown)} "
            f"(a customer has: {', '.join(CUSTOMER_FIELDS)})"
        )


def import_customers(
    db_path: Path, file_path: Path, *, max_bytes: int = MAX_BYTES, max_records: int = MAX_RECORDS,
) -> ImportResult:
    """Import every record of `file_path` into the sandbox at `db_path`, or none of them.

    Raises RecordFileError (unreadable file), NotASandbox, or ImportRefused (with all
    refusals, e.g. ``line 7: e-mail domain gmail.com is not a reserved example domain``).
    """
    db_path, file_path = Path(db_path), Path(file_path)
    reference = load_reference()
    conn = connect_sandbox(db_path)
    try:
        now = _clock_now(conn, db_path)
        fmt = detect_format(file_path) if file_path.is_file() else None
        refusals: list[str] = []
        rows: list[tuple[str, dict[str, Any]]] = []
        first_seen: dict[str, str] = {}
        for record in read_records(file_path, fmt, max_bytes=max_bytes, max_records=max_records):
            if fmt == "csv" and not rows and not refusals:
                _check_columns(list(record.fields), file_path.name)
            if record.problem:
                refusals.append(f"{record.where}: {record.problem}")
                continue
            fields = {key: _clean(value) for key, value in record.fields.items()}
            reasons = check_customer(fields, reference)
            refusals.extend(f"{record.where}: {reason}" for reason in reasons)
            if reasons:
                continue
            email = fields["email"].lower()
            if email in first_seen:
                refusals.append(f"{record.where}: e-mail is a duplicate of {first_seen[email]}")
                continue
            first_seen[email] = record.where
            rows.append((record.where, fields))
        sha256 = file_sha256(file_path)

        conn.execute("BEGIN IMMEDIATE")  # nobody writes between the duplicate check and insert
        try:
            existing = {
                email: cid
                for cid, email in conn.execute("SELECT id, lower(email) FROM customers")
                if email in first_seen
            }
            for where, fields in rows:
                if (cid := existing.get(fields["email"].lower())) is not None:
                    refusals.append(f"{where}: e-mail already belongs to customer {cid}")
            if refusals:
                raise ImportRefused(sorted(refusals, key=_location_order))
            provenance_id = conn.execute(
                "INSERT INTO provenance (source, scenario, seed, generator_version, detail) "
                "VALUES ('import', NULL, NULL, ?, ?)",
                (__version__, json.dumps({"file": file_path.name, "sha256": sha256,
                                          "records": len(rows)})),
            ).lastrowid
            table = []
            for _, fields in rows:
                values = {name: fields.get(name) for name in CUSTOMER_FIELDS}
                values["country"] = values["country"] or "NL"
                values["created_at"] = values["created_at"] or now
                table.append((*values.values(), provenance_id))
            conn.executemany(
                f"INSERT INTO customers ({', '.join(CUSTOMER_FIELDS)}, provenance_id) "
                f"VALUES ({', '.join('?' * len(CUSTOMER_FIELDS))}, ?)",
                table,
            )
            ids = [cid for (cid,) in conn.execute(
                "SELECT id FROM customers WHERE provenance_id = ? ORDER BY id", (provenance_id,))]
            columns = sorted({name for _, fields in rows for name, v in fields.items() if v})
            audit.append(
                conn, at=now, actor="import", purpose=None, action="import", table="customers",
                columns=[f"customers.{c}" for c in columns], row_ids=ids,
                detail={"file": file_path.name, "sha256": sha256, "provenance_id": provenance_id},
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:  # e.g. locked by another writer, or a damaged file
        raise SandboxError(
            f"{db_path}: the import failed and nothing was written ({exc})"
        ) from None
    finally:
        conn.close()
    return ImportResult(file_path.name, sha256, len(ids), provenance_id, tuple(ids))


def _location_order(refusal: str) -> int:
    """The line or record number a refusal starts with ("line 7: ..." -> 7)."""
    where = refusal.split(":", 1)[0].split()
    return int(where[1]) if len(where) == 2 and where[1].isdigit() else 0
