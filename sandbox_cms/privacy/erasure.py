"""Erasing customers: delete or unlink everything not under a legal duty, keep and report the rest.

Used by data-subject erasure requests (art. 17) and by the retention schedule's "erase"
action for customer accounts. For each customer, inside the caller's processing context and
transaction:

- **invoices** still inside the tax retention period are kept, reduced to what the duty needs
  (number, date, amounts and the billing name and address printed on them) and unlinked from
  the customer (``customer_id`` cleared); invoices whose period has run out are deleted;
- **orders** behind a kept invoice stay as anonymous sales records (``customer_id`` cleared);
  all other orders are deleted with their order lines;
- **consent events**, **mailing receipts** and **disclosures** are deleted (the recipients of
  disclosures are listed, so they can be told, art. 19);
- earlier **data-subject requests** are unlinked, and the addresses in their **outbox** mails
  cleared;
- the **customer** row is deleted (a flag would not be erasure).

The audit log is not touched. It holds ids, column names and times, never names or
addresses, but those ids are pseudonymous personal data (art. 4(5)): with the time of an
entry they can still point at a kept invoice, which names the buyer. The log is the shop's
proof of what it did (accountability, art. 5(2)); an erasure that rewrote it would break
its hash chain and with it that proof, so it is kept as it is, pseudonymous. It needs a
period too (art. 5(1)(e)): a real shop closes the chain per financial year and deletes a
closed year once nothing it proves is kept any more (the seven-year invoice period); the
sandbox, which lives for a course, does not prune it. The report holds table names, row
ids, column names and reasons: no identifying values.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sandbox_cms.core.periods import CALENDAR_YEAR_END, END_OF_FINANCIAL_YEAR, due_moment

# What an invoice keeps after its customer is erased: what AWR art. 52 needs of it.
RETAINED_INVOICE_COLUMNS = (
    "number", "issued_at", "order_id", "billing_name", "billing_street", "billing_postcode",
    "billing_city", "amount_cents", "vat_cents",
)
CUSTOMER_COLUMNS = (
    "first_name", "last_name", "email", "phone", "street", "house_number", "postcode", "city",
    "country", "birth_date", "iban", "company", "created_at", "closed_at",
)
DEFAULT_INVOICE_REASON = (
    "invoices must be kept for seven years from the end of the financial year (AWR art. "
    "52(4); BW 2:10(3) for legal persons, 3:15i for other businesses); erasure does not "
    "reach data kept for a legal obligation (art. 17(3)(b))"
)
BATCH = 400  # ids per IN (...) list


class Db(Protocol):
    """What erasure needs from a processing context: read rows, run a write."""

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]: ...

    def run(self, sql: str, params: Any = (), about: Iterable[int] | None = None) -> int: ...


def overwrite_deleted_content(conn: Any) -> None:
    """Make SQLite overwrite deleted rows with zeros (``PRAGMA secure_delete``).

    Without it a deleted customer's values can linger in free pages of the file; many builds
    turn it on by default, this makes sure of it on this connection.
    """
    conn.execute("PRAGMA secure_delete = ON")


def leave_no_copy(conn: Any) -> bool:
    """After an erasure has committed: copy the write-ahead log into the database and empty
    it (``PRAGMA wal_checkpoint(TRUNCATE)``), so no older page image in the ``-wal`` file
    still holds what was erased. Inside an open transaction nothing can be done yet (the
    caller commits first); outside WAL mode the pragma does nothing. True when the log is
    empty afterwards (False: a reader still held an old snapshot; the next checkpoint, at
    the latest the close of the last connection, removes it)."""
    if conn.in_transaction:
        return False
    with contextlib.suppress(Exception):
        row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return row is None or row[0] == 0
    return False


# -- the erasure ledger -----------------------------------------------------------------------

LEDGER_SUFFIX = ".erasures.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    """One erased customer: the id, when, and the request behind it. No personal values."""

    customer_id: int
    at: str
    request_id: int | None = None
    created_at: str | None = None
    """When the erased account was opened: with the id it recognises the same account in a
    restored copy, so an id SQLite gave to a later customer is never taken for it."""


def ledger_path(db_path: str | Path) -> Path:
    """The erasure ledger of the sandbox at ``db_path``: a file beside it, which a restore
    (that replaces only the database file) leaves in place."""
    path = Path(db_path)
    return path.with_name(path.name + LEDGER_SUFFIX)


def record_erasures(db_path: str | Path, entries: Iterable[LedgerEntry]) -> None:
    """Append erased customers to the ledger (one JSON line each, written to disk at once)."""
    lines = "".join(json.dumps(asdict(e), sort_keys=True) + "\n" for e in entries)
    if not lines:
        return
    with ledger_path(db_path).open("a", encoding="utf-8") as fh:
        fh.write(lines)
        fh.flush()
        os.fsync(fh.fileno())


def read_ledger(db_path: str | Path) -> list[LedgerEntry]:
    """Every entry of the ledger, oldest first (none when there is no ledger); a damaged
    line (a torn write) is skipped."""
    path = ledger_path(db_path)
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError, TypeError, KeyError):
            data = json.loads(line)
            entries.append(LedgerEntry(int(data["customer_id"]), str(data["at"]),
                                       data.get("request_id"), data.get("created_at")))
    return entries


class ProcessingDb:
    """Adapts a processing context (``cms.processing(...)``) to the :class:`Db` protocol.

    Every statement goes through the context, so the purpose gate checks it and the audit
    log records it; ``about`` names the customers a write concerns.
    """

    def __init__(self, processing: Any) -> None:
        self.processing = processing

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self.processing.query(sql, params)

    def run(self, sql: str, params: Any = (), about: Iterable[int] | None = None) -> int:
        return self.processing.execute(sql, params, customer_ids=about)

    def insert(self, table: str, values: dict[str, Any],
               about: Iterable[int] | None = None) -> int:
        """Insert one row; return its id."""
        names = list(values)
        self.run(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({_marks(names)})",
                 [values[n] for n in names], about)
        return self.processing.connection.execute("SELECT last_insert_rowid()").fetchone()[0]


@dataclass(frozen=True)
class InvoiceRule:
    """How long invoices are kept, and why (from the retention schedule). The default: seven
    years from the end of the (calendar) financial year of the invoice date. ``period_days``,
    when given, counts days from the invoice date instead; with neither it is kept for ever."""

    period_days: int | None = None
    reason: str = DEFAULT_INVOICE_REASON
    period_years: int | None = 7
    counted_from: str = END_OF_FINANCIAL_YEAR
    financial_year_end: str = CALENDAR_YEAR_END

    def kept_until(self, issued_at: str) -> str | None:
        """The moment an invoice issued at ``issued_at`` is due (None: kept for ever)."""
        if self.period_days is not None:
            return due_moment(issued_at, days=self.period_days)
        if self.period_years is None:
            return None
        return due_moment(issued_at, years=self.period_years, counted_from=self.counted_from,
                          year_end=self.financial_year_end)

    def expired(self, issued_at: str, at: str) -> bool:
        """Whether the duty to keep that invoice has ended at ``at``."""
        due = self.kept_until(issued_at)
        return due is not None and due <= at


@dataclass(frozen=True)
class RemovedItem:
    """A row that was deleted, or anonymised by clearing the columns named."""

    table: str
    row_id: int
    action: str  # 'deleted' or 'anonymised'
    columns: tuple[str, ...]


@dataclass(frozen=True)
class RetainedItem:
    """A row kept, with the columns that still hold data about the person and the reason."""

    table: str
    columns: tuple[str, ...]
    row_id: int
    reason: str


@dataclass
class ErasureReport:
    """What an erasure removed and what it kept (and why). Holds no identifying values."""

    at: str
    removed: list[RemovedItem] = field(default_factory=list)
    retained: list[RetainedItem] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)  # recipients to tell (art. 19)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form."""
        return {
            "at": self.at,
            "removed": [{**asdict(item), "columns": list(item.columns)} for item in self.removed],
            "retained": [{**asdict(item), "columns": list(item.columns)}
                         for item in self.retained],
            "notify": list(self.notify),
        }

    def counts(self) -> dict[str, int]:
        """Removed rows per table and action, e.g. ``{'customers deleted': 1}``."""
        result: dict[str, int] = {}
        for item in self.removed:
            key = f"{item.table} {item.action}"
            result[key] = result.get(key, 0) + 1
        return result

    def lines(self) -> list[str]:
        """The report as readable lines (for the CLI)."""
        out = [f"erasure at {self.at}"]
        out += [f"removed: {n} {what}" for what, n in sorted(self.counts().items())]
        out += [
            f"retained: {item.table} #{item.row_id} ({', '.join(item.columns)}): {item.reason}"
            for item in self.retained
        ]
        if self.notify:
            out.append("tell these recipients about the erasure (art. 19): "
                       + ", ".join(self.notify))
        return out


ERASE_CALLS = [0]
"""How often erase_customers ran: exercise 04-erasure-request sees whether the learner called it."""


def erase_customers(db: Db, customer_ids: Iterable[int], at: str,
                    invoices: InvoiceRule = InvoiceRule()) -> ErasureReport:
    """Erase the given customers (see the module docstring); return what was done."""
    ERASE_CALLS[0] += 1
    report = ErasureReport(at=at)
    ids = sorted(set(customer_ids))
    recipients: set[str] = set()
    for start in range(0, len(ids), BATCH):
        _erase_batch(db, ids[start:start + BATCH], at, invoices, report, recipients)
    report.notify = sorted(recipients)
    return report


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _erase_batch(db: Db, ids: list[int], at: str, rule: InvoiceRule, report: ErasureReport,
                 recipients: set[str]) -> None:
    m = _marks(ids)
    # Invoices: keep those the tax duty still covers, unlinked; delete the rest.
    kept_orders: set[int] = set()
    keep, drop = [], []
    for row in db.rows(f"SELECT id, order_id, issued_at FROM invoices WHERE customer_id IN ({m})",
                       ids):
        expired = rule.expired(row["issued_at"], at)
        (drop if expired else keep).append(row["id"])
        if not expired and row["order_id"] is not None:
            kept_orders.add(row["order_id"])
    if keep:
        db.run(f"UPDATE invoices SET customer_id = NULL WHERE id IN ({_marks(keep)})", keep, ids)
        report.retained += [
            RetainedItem("invoices", RETAINED_INVOICE_COLUMNS, i, rule.reason) for i in keep
        ]
    _delete(db, report, "invoices", drop, ids)

    # Orders: those behind a kept invoice stay as anonymous sales records.
    orders = [r["id"] for r in db.rows(f"SELECT id FROM orders WHERE customer_id IN ({m})", ids)]
    unlink = [o for o in orders if o in kept_orders]
    gone = [o for o in orders if o not in kept_orders]
    if unlink:
        db.run(f"UPDATE orders SET customer_id = NULL WHERE id IN ({_marks(unlink)})", unlink, ids)
        report.removed += [RemovedItem("orders", o, "anonymised", ("customer_id",)) for o in unlink]
    if gone:
        items = [r["id"] for r in db.rows(
            f"SELECT id FROM order_items WHERE order_id IN ({_marks(gone)})", gone)]
        _delete(db, report, "order_items", items, ids)
        _delete(db, report, "orders", gone, ids)

    # Consent events, mailing receipts, disclosures: deleted.
    events = [r["id"] for r in db.rows(
        f"SELECT id FROM consent_events WHERE customer_id IN ({m})", ids)]
    _delete(db, report, "consent_events", events, ids)
    received = db.rows(
        f"SELECT mailing_id FROM mailing_recipients WHERE customer_id IN ({m})", ids)
    if received:
        db.run(f"DELETE FROM mailing_recipients WHERE customer_id IN ({m})", ids, ids)
        report.removed += [
            RemovedItem("mailing_recipients", r["mailing_id"], "deleted",
                        ("mailing_id", "customer_id"))
            for r in received
        ]
    shared = db.rows(f"SELECT id, recipient FROM disclosures WHERE customer_id IN ({m})", ids)
    recipients.update(r["recipient"] for r in shared)
    _delete(db, report, "disclosures", [r["id"] for r in shared], ids)

    # Earlier requests: unlinked; the addresses their mails went to, cleared.
    requests = [r["id"] for r in db.rows(
        f"SELECT id FROM dsr_requests WHERE customer_id IN ({m})", ids)]
    if requests:
        rm = _marks(requests)
        db.run(f"UPDATE dsr_requests SET customer_id = NULL WHERE id IN ({rm})", requests, ids)
        report.removed += [
            RemovedItem("dsr_requests", r, "anonymised", ("customer_id",)) for r in requests
        ]
        mails = [r["id"] for r in db.rows(
            f"SELECT id FROM dsr_outbox WHERE request_id IN ({rm}) AND to_address IS NOT NULL",
            requests)]
        if mails:
            db.run(f"UPDATE dsr_outbox SET to_address = NULL WHERE id IN ({_marks(mails)})", mails,
                   ids)
            report.removed += [
                RemovedItem("dsr_outbox", i, "anonymised", ("to_address",)) for i in mails
            ]

    # Questions to confirm a guest order placed with their address (sandbox_cms.data.shop).
    if db.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' "
               "AND name = 'checkout_confirmations'"):
        links = [r["id"] for r in db.rows(
            f"SELECT id FROM checkout_confirmations WHERE customer_id IN ({m})", ids)]
        _delete(db, report, "checkout_confirmations", links, ids)

    # Finally the customer record itself.
    found = [r["id"] for r in db.rows(f"SELECT id FROM customers WHERE id IN ({m})", ids)]
    if found:
        db.run(f"DELETE FROM customers WHERE id IN ({_marks(found)})", found, found)
        report.removed += [
            RemovedItem("customers", i, "deleted", CUSTOMER_COLUMNS) for i in found
        ]


def _delete(db: Db, report: ErasureReport, table: str, row_ids: list[int],
            about: list[int]) -> None:
    for start in range(0, len(row_ids), BATCH):
        chunk = row_ids[start:start + BATCH]
        db.run(f"DELETE FROM {table} WHERE id IN ({_marks(chunk)})", chunk, about)
    report.removed += [RemovedItem(table, i, "deleted", ("*",)) for i in row_ids]
