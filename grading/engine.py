"""The reference policy engine: what *should* have happened in a sandbox.

Checks compare a learner's work with these answers. The engine asks the sandbox's own
mechanisms (consent ledger, retention schedule, storage register, audit chain), so the
grade follows the same rules the CMS enforces; it reads plain facts (mailings, invoices)
with the grader's read-only connection, which writes nothing to the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read(cms: Any, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Rows from the sandbox through a plain read-only connection (not audited)."""
    conn = sqlite3.connect(f"file:{Path(cms.path)}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, tuple(params))]
    finally:
        conn.close()


def now(cms: Any) -> dt.datetime:
    """The sandbox's simulated now."""
    return cms.clock.now()


# --- consent -------------------------------------------------------------------------


def consent_decisions(
    cms: Any, customer_ids: Iterable[int], purpose: str, at: dt.datetime | None = None
) -> dict[int, Any]:
    """The consent ledger's decision for each customer at ``at`` (default: now)."""
    at = at or now(cms)
    return {cid: cms.consent.may(cid, purpose, at=at) for cid in sorted(set(customer_ids))}


def eligible_customers(cms: Any, purpose: str, at: dt.datetime | None = None) -> set[int]:
    """Every customer whose consent for ``purpose`` is valid at ``at`` (default: now)."""
    at = at or now(cms)
    bulk = getattr(cms.consent, "allowed_customers", None)
    if callable(bulk):
        return {int(c) for c in bulk(purpose, at=at)}
    ids = [r["id"] for r in read(cms, "SELECT id FROM customers ORDER BY id")]
    return {cid for cid, d in consent_decisions(cms, ids, purpose, at).items() if d.allowed}


def mailings(cms: Any, since_id: int = 0) -> list[dict[str, Any]]:
    """Mailings sent after ``since_id``, each with its recipient ids."""
    rows = read(cms, "SELECT * FROM mailings WHERE id > ? ORDER BY id", (since_id,))
    for row in rows:
        row["recipients"] = {
            r["customer_id"]
            for r in read(
                cms, "SELECT customer_id FROM mailing_recipients WHERE mailing_id = ?", (row["id"],)
            )
        }
    return rows


def last_mailing_id(cms: Any) -> int:
    return int(read(cms, "SELECT COALESCE(MAX(id), 0) AS m FROM mailings")[0]["m"])


def disclosures(cms: Any, since_id: int = 0) -> list[dict[str, Any]]:
    """Disclosures (shares) recorded after ``since_id``, columns decoded."""
    rows = read(cms, "SELECT * FROM disclosures WHERE id > ? ORDER BY id", (since_id,))
    for row in rows:
        row["columns"] = json.loads(row["columns"])
    return rows


# --- purposes ------------------------------------------------------------------------


def purpose_columns(cms: Any, purpose: str) -> frozenset[str]:
    """The columns (``table.column``) the register allows for ``purpose``."""
    rows = read(cms, "SELECT columns FROM purposes WHERE name = ?", (purpose,))
    if not rows:
        return frozenset()
    return frozenset(json.loads(rows[0]["columns"]))


# --- retention -----------------------------------------------------------------------


def overdue(cms: Any, at: dt.datetime | None = None) -> list[Any]:
    """What the retention schedule says is due for deletion or anonymisation at ``at``."""
    return list(cms.retention.due(at=at or now(cms)))


def existing_ids(cms: Any, table: str) -> set[int]:
    """The ids of every row of ``table`` (``table`` is one of the schema's names)."""
    return {r["id"] for r in read(cms, f'SELECT id FROM "{table}"')}  # noqa: S608


def invoices_under_duty(cms: Any, at: dt.datetime | None = None) -> set[int]:
    """Invoices a legal duty keeps at ``at``: those whose period under the schedule's invoice
    rule has not ended (AWR art. 52(4); BW 2:10(3) or 3:15i: seven years from the end of the
    financial year of the invoice date, so an invoice of year Y stays until 31 Dec of Y+7)."""
    moment = (at or now(cms)).isoformat(timespec="seconds")
    rule = cms.retention.invoice_rule()
    return {r["id"] for r in read(cms, "SELECT id, issued_at FROM invoices")
            if not rule.expired(r["issued_at"], moment)}


# --- transfers and accountability ----------------------------------------------------


def transfer_findings(cms: Any) -> list[Any]:
    """The storage register's verdict on every destination outside the EEA."""
    return list(cms.storage.check_transfers())


def audit_verification(cms: Any) -> Any:
    """The audit chain's verification result (``ok``, ``first_broken``, ``message``)."""
    return cms.audit.verify()


# --- production values ---------------------------------------------------------------


PRODUCTION_COLUMNS = ("first_name", "last_name", "email", "phone", "street", "iban")


def production_values(cms: Any, columns: Iterable[str] = PRODUCTION_COLUMNS) -> dict[str, str]:
    """Identifying values of a (production) sandbox mapped to a plain description.

    Values are lower-cased and stripped, as :func:`grading.checks.check_no_production_values`
    compares them. First and last names alone are common; pass narrower columns for a
    stricter or looser test.
    """
    values: dict[str, str] = {}
    cols = [c for c in columns if c in PRODUCTION_COLUMNS]
    if not cols:
        return values
    select = ", ".join(["id", *cols])
    for row in read(cms, f"SELECT {select} FROM customers"):  # noqa: S608 - fixed names
        for col in cols:
            value = row[col]
            if isinstance(value, str) and value.strip():
                values.setdefault(value.strip().lower(), f"customer {row['id']}'s {col}")
    return values
