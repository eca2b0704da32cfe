"""The erasure core shared by erasure requests and the retention schedule."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_cms.cms import Sandbox
from sandbox_cms.core.moments import add_days, to_iso
from sandbox_cms.core.scope import transaction
from sandbox_cms.privacy.erasure import BATCH, InvoiceRule, ProcessingDb, erase_customers


@contextlib.contextmanager
def _raw(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def test_many_customers_at_once_across_batches(cms: Sandbox) -> None:
    ids = list(range(1, BATCH + 51))
    now = to_iso(cms.clock.now())
    rule = InvoiceRule(period_days=2557, reason="kept for the tax duty")
    with _raw(cms.path) as raw:
        invoices = dict(raw.execute(
            f"SELECT id, issued_at FROM invoices WHERE customer_id <= {ids[-1]}").fetchall())
    with cms._internal("dsr_erasure", "test") as p, transaction(p.connection):
        report = erase_customers(ProcessingDb(p), ids, now, rule)
    under_duty = {i for i, issued in invoices.items() if add_days(issued, 2557) > now}
    assert {item.row_id for item in report.retained} == under_duty
    assert {r.row_id for r in report.removed if r.table == "invoices"} == set(invoices) - under_duty
    assert {r.row_id for r in report.removed if r.table == "customers"} == set(ids)
    with _raw(cms.path) as raw:
        left = raw.execute("SELECT COUNT(*) FROM customers WHERE id <= ?", (ids[-1],))
        assert left.fetchone() == (0,)
        assert raw.execute("SELECT COUNT(*) FROM customers").fetchone()[0] > 0  # others stay
        for table in ("orders", "invoices", "consent_events"):
            assert raw.execute(f"SELECT COUNT(*) FROM {table} WHERE customer_id <= ?",
                               (ids[-1],)).fetchone() == (0,)
    assert all(item.reason == "kept for the tax duty" for item in report.retained)


def test_erasure_through_a_purpose_without_the_columns_is_refused(cms: Sandbox) -> None:
    from sandbox_cms.core.errors import PurposeViolation

    now = to_iso(cms.clock.now())
    with pytest.raises(PurposeViolation), cms.processing("analytics") as p, \
            transaction(p.connection):
        erase_customers(ProcessingDb(p), [1], now)
    with _raw(cms.path) as raw:  # the transaction was rolled back: nothing changed
        assert raw.execute("SELECT COUNT(*) FROM customers WHERE id = 1").fetchone() == (1,)
        assert raw.execute("SELECT COUNT(*) FROM invoices WHERE customer_id = 1").fetchone()[0]


def test_moments() -> None:
    assert to_iso("2025-03-01") == "2025-03-01T00:00:00"
    assert add_days("2018-01-01", 2557) == "2025-01-01T00:00:00"
    assert add_days("2025-03-01T09:30:00", -1) == "2025-02-28T09:30:00"
