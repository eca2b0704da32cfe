"""Erasing one customer in a 100,000-customer sandbox, against baselines in the same run.

Target: ``cms.dsr.erase(email)`` under 50 ms (median over 20 customers).

- naive: ``DELETE FROM customers WHERE id = ?`` and commit on a plain connection (what a
  webshop's "delete customer" button often does: orders, invoices, consents stay behind);
- bare erasure: the same erasure steps (:func:`sandbox_cms.privacy.erasure.erase_customers`) on a
  plain connection in one transaction: no purpose gate, no audit log, no request record;
- ours: ``cms.dsr.erase(email)``: lookup by e-mail, erasure through the purpose gate, every
  statement audited (hash-chained), the request and report stored, one transaction.

Each variant runs on its own copy of the same sandbox, on different customers (same seed).
All use ``synchronous = OFF`` like a sandbox opened by default (a commit survives a crash of
Python, not of the machine); the last line repeats ours with ``durable=True`` (fsync on
every commit) for comparison.
Run: ``make bench`` (all) or ``.venv/bin/python -m benchmarks.bench_erasure [--quick]``.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import machine, report
from sandbox_cms.cms import open_sandbox
from sandbox_cms.data.build import fresh_copy
from sandbox_cms.privacy.erasure import erase_customers

CUSTOMERS = 100_000
SAMPLES = 20
TARGET_MS = 50.0


class _PlainDb:
    """The erasure's Db protocol on a plain sqlite3 connection (no gate, no audit)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = sqlite3.Row
        self.conn = conn

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]

    def run(self, sql: str, params: Any = (), about: Any = None) -> int:
        return self.conn.execute(sql, params).rowcount


def _time_each(items: list, action: Callable[[Any], object]) -> list[float]:
    times = []
    for item in items:
        started = time.perf_counter()
        action(item)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(times), p95


def main() -> None:
    quick = "--quick" in sys.argv
    customers = 20_000 if quick else CUSTOMERS
    built = time.perf_counter()
    template = fresh_copy(customers=customers)
    built = time.perf_counter() - built
    work = Path(tempfile.mkdtemp(prefix="bench-erasure-"))
    try:
        rng = random.Random(20140301)
        picks = rng.sample(range(1, customers + 1), 4 * SAMPLES)
        naive_ids, bare_ids, ours_ids, durable_ids = (picks[i::4] for i in range(4))
        with sqlite3.connect(template) as raw:
            emails, durable_emails = (
                [raw.execute("SELECT email FROM customers WHERE id = ?", (i,)).fetchone()[0]
                 for i in ids] for ids in (ours_ids, durable_ids))
            now = raw.execute("SELECT value FROM meta WHERE key = 'clock_now'").fetchone()[0]

        naive_db = shutil.copyfile(template, work / "naive.db")
        conn = sqlite3.connect(naive_db, isolation_level=None)
        conn.execute("PRAGMA synchronous = OFF")

        def naive(cid: int) -> None:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM customers WHERE id = ?", (cid,))
            conn.execute("COMMIT")

        naive_ms = _time_each(naive_ids, naive)
        conn.close()

        bare_db = shutil.copyfile(template, work / "bare.db")
        conn = sqlite3.connect(bare_db, isolation_level=None)
        conn.execute("PRAGMA synchronous = OFF")
        plain = _PlainDb(conn)

        def bare(cid: int) -> None:
            conn.execute("BEGIN")
            erase_customers(plain, [cid], now)
            conn.execute("COMMIT")

        bare_ms = _time_each(bare_ids, bare)
        conn.close()

        cms = open_sandbox(shutil.copyfile(template, work / "ours.db"))
        ours_ms = _time_each(emails, cms.dsr.erase)
        intact = cms.audit.verify().ok
        cms.close()

        cms = open_sandbox(shutil.copyfile(template, work / "durable.db"), durable=True)
        durable_ms = _time_each(durable_emails, cms.dsr.erase)
        cms.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    naive_med, naive_p95 = _summary(naive_ms)
    bare_med, bare_p95 = _summary(bare_ms)
    ours_med, ours_p95 = _summary(ours_ms)
    durable_med, durable_p95 = _summary(durable_ms)
    verdict = "MEETS" if ours_med < TARGET_MS else "MISSES"
    report("erasure of one customer", [
        f"sandbox: {customers:,} customers (template ready in {built:.1f} s); "
        f"{SAMPLES} customers per variant",
        f"naive DELETE of the customer row   median {naive_med:6.2f} ms  p95 {naive_p95:6.2f} ms"
        "  (1.0x)",
        f"bare erasure, plain connection     median {bare_med:6.2f} ms  p95 {bare_p95:6.2f} ms"
        f"  ({bare_med / naive_med:.1f}x naive)",
        f"cms.dsr.erase (gate, audit, record) median {ours_med:6.2f} ms  p95 {ours_p95:6.2f} ms"
        f"  ({ours_med / naive_med:.1f}x naive, {ours_med / bare_med:.1f}x bare)",
        f"target: median under {TARGET_MS:.0f} ms: {verdict}; audit log intact: {intact}",
        f"cms.dsr.erase, durable=True (fsync) median {durable_med:6.2f} ms  "
        f"p95 {durable_p95:6.2f} ms",
    ], machine())


if __name__ == "__main__":
    main()
