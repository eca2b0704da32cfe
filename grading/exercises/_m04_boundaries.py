"""The boundary cases module 04's two exercises plant, the same in every variant and seed.

Each rule the exercises check gets a row on each side of its boundary, computed from the
variant's clock (never from the seed), so an answer that is off by a day, counts days where
the law counts financial years, reads the wall clock or keeps what has no reason to be kept
fails whatever the hidden variant's seed:

- **invoices** (seven years from the end of the financial year, AWR art. 52(4)): one of
  31 Dec of year Y-8 (due: its period ended on 31 Dec Y-1), one of 1 Jan and one of 31 Dec
  of Y-7 (kept until 31 Dec Y), and, when they fall in year Y-7, invoices dated exactly
  7 x 365 and 2557 days before now (a learner counting days deletes them);
- a **zero-total** order (a free cover sent as goodwill): still an order and still
  invoiced, so it counts as the last order and its invoice is kept;
- **accounts** (the ``customer_accounts`` rule, N days after the last order or the end of
  the last warranty): one whose period ends exactly now (due: at its due moment the period
  has run out), one whose period ends a day later (kept), one whose warranty ends exactly
  now (kept) and one whose only trampoline order was **cancelled** inside what would be its
  warranty (a cancelled order carries no warranty: nothing was delivered; due).

Y is the year of the variant's clock; the financial year is the calendar year.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

WARRANTY_SKU = "TR-305"  # a trampoline: 24 months' warranty
GIFT_SKU = "AC-COVER-305"  # a cover: no warranty
DAY_COUNTS = (7 * 365, 2557)  # what counting days from the invoice date would use
STAND_INS = {"SP-SPRING-20": "EB-0003", GIFT_SKU: "EB-0004", WARRANTY_SKU: "EB-0006"}
"""The e-book shop's product for each webshop product planted here: module 07 plants the same
boundaries on the ``ebooks`` scenario, where nothing carries a warranty (a "warranty ends now"
account there simply ordered now, and is kept all the same)."""


@dataclass(frozen=True)
class Boundary:
    """One planted boundary row: what it is, its id, and whether the law keeps it now."""

    case: str
    table: str
    row_id: int
    kept: bool


def now_of(conn: sqlite3.Connection) -> dt.datetime:
    """The sandbox clock, read from the database the setup is changing."""
    return dt.datetime.fromisoformat(
        conn.execute("SELECT value FROM meta WHERE key = 'clock_now'").fetchone()[0])


def invoice_dates(now: dt.datetime) -> list[tuple[str, str, bool]]:
    """(case, invoice date, kept?) for the invoice boundary at ``now``."""
    year = now.year
    dates = [("invoice_31_dec_year_minus_8", f"{year - 8}-12-31", False),
             ("invoice_1_jan_year_minus_7", f"{year - 7}-01-01", True),
             ("invoice_31_dec_year_minus_7", f"{year - 7}-12-31", True)]
    for days in DAY_COUNTS:
        day = (now - dt.timedelta(days=days)).date()
        if day.year == year - 7:  # only then does counting days delete a kept invoice
            dates.append((f"invoice_{days}_days_old", day.isoformat(), True))
    return dates


def _product(conn: sqlite3.Connection, sku: str) -> tuple[int, int, int]:
    for candidate in (sku, STAND_INS.get(sku)):
        row = conn.execute("SELECT id, price_cents, warranty_months FROM products WHERE sku = ?",
                           (candidate,)).fetchone()
        if row is not None:
            break
    if row is None:
        raise ValueError(f"the scenario has no product {sku}: module 04 needs the webshop"
                         " or the e-book shop")
    return row


def add_order(conn: sqlite3.Connection, customer_id: int | None, ordered_at: str, sku: str,
              *, status: str = "delivered", free: bool = False,
              invoice: str | None = None, billing: tuple[str, str, str, str] | None = None,
              number: str = "") -> tuple[int, int | None]:
    """One order of one product (price 0 when ``free``), invoiced on ``invoice`` (a date) if
    given; returns (order id, invoice id)."""
    product, price, _ = _product(conn, sku)
    total = 0 if free else price
    order = conn.execute(
        "INSERT INTO orders (customer_id, ordered_at, status, total_cents, provenance_id)"
        " VALUES (?, ?, ?, ?, 1)", (customer_id, ordered_at, status, total)).lastrowid
    conn.execute("INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
                 " VALUES (?, ?, 1, ?)", (order, product, total))
    invoice_id = None
    if invoice is not None:
        name, street, postcode, city = billing or ("Planted Boundary", "Grensweg 1", "1000 AA",
                                                   "Amsterdam")
        invoice_id = conn.execute(
            "INSERT INTO invoices (number, order_id, customer_id, issued_at, billing_name,"
            " billing_street, billing_postcode, billing_city, amount_cents, vat_cents,"
            " provenance_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (f"{number or 'BND'}-{order}", order, customer_id, invoice, name, street, postcode,
             city, total, round(total * 21 / 121))).lastrowid
    return order, invoice_id


def plant_invoices(conn: sqlite3.Connection, customer_id: int | None,
                   billing: tuple[str, str, str, str] | None = None,
                   prefix: str = "BND") -> list[Boundary]:
    """The invoice boundary (and a zero-total invoiced order in a kept year) for
    ``customer_id`` (None: invoices of an account erased earlier, kept unlinked)."""
    now = now_of(conn)
    planted = []
    for case, day, kept in invoice_dates(now):
        _, invoice = add_order(conn, customer_id, f"{day}T12:00:00", "SP-SPRING-20",
                               invoice=day, billing=billing, number=prefix)
        planted.append(Boundary(case, "invoices", invoice or 0, kept))
    day = f"{now.year - 7}-06-30"
    _, invoice = add_order(conn, customer_id, f"{day}T12:00:00", GIFT_SKU, free=True,
                           invoice=day, billing=billing, number=prefix)
    planted.append(Boundary("invoice_zero_total", "invoices", invoice or 0, True))
    return planted


def _new_customer(conn: sqlite3.Connection, label: str, created: dt.datetime) -> int:
    return conn.execute(
        "INSERT INTO customers (first_name, last_name, email, street, house_number, postcode,"
        " city, created_at, provenance_id) VALUES (?, 'Grensgeval', ?, 'Grensweg', '1',"
        " '1000 AA', 'Amsterdam', ?, 1)",
        (label.replace("_", " ").title(), f"planted-{label.replace('_', '-')}@example.invalid",
         created.isoformat(timespec="seconds"))).lastrowid


def _months_before(conn: sqlite3.Connection, moment: dt.datetime, months: int) -> str:
    """``moment`` minus ``months`` months, such that SQLite's '+N months' gives it back."""
    stamp = moment.isoformat(timespec="seconds")
    before = conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%S', ?, ?)",
                          (stamp, f"-{months} months")).fetchone()[0]
    back = conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%S', ?, ?)",
                        (before, f"+{months} months")).fetchone()[0]
    if back != stamp:
        raise ValueError(f"no order date whose {months}-month warranty ends at {stamp}: "
                         "choose another clock for the variant")
    return before


def plant_accounts(conn: sqlite3.Connection, inactive_days: int) -> list[Boundary]:
    """The account boundary of the ``customer_accounts`` rule (``inactive_days`` after the
    last order or the end of the last warranty)."""
    now = now_of(conn)
    _, _, months = _product(conn, WARRANTY_SKU)
    period = dt.timedelta(days=inactive_days)
    created = now - period - dt.timedelta(days=4 * 365)
    planted = []

    def account(case: str, warranty_end: dt.datetime, kept: bool, *,
                status: str = "delivered") -> None:
        cid = _new_customer(conn, case, created)
        ordered = _months_before(conn, warranty_end, months)
        add_order(conn, cid, ordered, WARRANTY_SKU, status=status,
                  invoice=None if status == "cancelled" else ordered[:10],
                  billing=(f"{case} Grensgeval", "Grensweg 1", "1000 AA", "Amsterdam"))
        planted.append(Boundary(case, "customers", cid, kept))

    account("account_due_exactly_now", now - period, kept=False)
    account("account_due_a_day_later", now - period + dt.timedelta(days=1), kept=True)
    account("account_warranty_ends_now", now, kept=True)
    # Cancelled: counts as the last order, carries no warranty, so the account is due.
    cancelled_on = now - period - dt.timedelta(days=30)
    cid = _new_customer(conn, "account_cancelled_in_warranty", created)
    add_order(conn, cid, cancelled_on.isoformat(timespec="seconds"), WARRANTY_SKU,
              status="cancelled")
    planted.append(Boundary("account_cancelled_in_warranty", "customers", cid, False))
    # Zero total: a free cover sent ten days inside the period is still the last order.
    cid = _new_customer(conn, "account_zero_total_order", created)
    old = (created + dt.timedelta(days=10)).isoformat(timespec="seconds")
    add_order(conn, cid, old, GIFT_SKU, invoice=old[:10])
    recent = (now - period + dt.timedelta(days=10)).isoformat(timespec="seconds")
    add_order(conn, cid, recent, GIFT_SKU, free=True, invoice=recent[:10])
    planted.append(Boundary("account_zero_total_order", "customers", cid, True))
    return planted


def as_context(planted: list[Boundary]) -> dict[str, Any]:
    """The planted rows in a JSON-friendly form for the attempt's context."""
    return {b.case: {"table": b.table, "id": b.row_id, "kept": b.kept} for b in planted}
