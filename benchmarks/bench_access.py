"""Purpose-bound reads against plain reads of the same data, measured in the same run.

Target: a read inside ``cms.processing(...)`` costs at most 1.5x the same query on a plain
sqlite3 connection. Each workload runs as one processing block: open the block, run the
query (a point look-up runs many times), close the block, which writes the audit entries
(hash-chained, one transaction). The baseline runs the same SQL on a plain connection to the
same file and turns the rows into dicts the same way; the ratio against bare ``fetchall()``
tuples is shown too. Alternating runs, best of ``REPEATS`` (as ``timeit`` advises: the
fastest run is the one least disturbed by other processes), in CPU time of this process
(``time.process_time``), so other work on the shared cores does not decide the ratio.

Run: ``make bench`` (all) or ``.venv/bin/python -m benchmarks.bench_access [--quick]``.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import machine, report
from sandbox_cms.cms import open_sandbox
from sandbox_cms.data.build import build_sandbox

CUSTOMERS = 20_000
REPEATS = 15
TARGET = 1.5
LOOKUPS = 500

# (name, purpose, SQL, parameters per execution)
WORKLOADS: list[tuple[str, str, str, list[tuple]]] = [
    ("newsletter list (consenting customers)", "newsletter",
     "SELECT c.id, c.first_name, c.email FROM customers c WHERE c.id IN (SELECT customer_id"
     " FROM consent_events WHERE purpose = 'newsletter' AND event = 'granted')", [()]),
    (f"customer card, {LOOKUPS} look-ups by id", "customer_service",
     "SELECT id, first_name, last_name, email, street, city FROM customers WHERE id = ?",
     [(i,) for i in range(1, LOOKUPS + 1)]),
    ("repeat buyers (group by)", "analytics",
     "SELECT customer_id, count(*) AS orders, sum(total_cents) AS total FROM orders"
     " GROUP BY customer_id HAVING count(*) > 1", [()]),
    ("orders of 2024 with city (join)", "order_fulfilment",
     "SELECT o.id, o.ordered_at, c.city FROM orders o JOIN customers c ON c.id = o.customer_id"
     " WHERE o.ordered_at >= '2024-01-01'", [()]),
    ("all e-mail addresses (full scan)", "newsletter",
     "SELECT id, email FROM customers", [()]),
]


def _as_dicts(cursor: sqlite3.Cursor) -> list[dict]:
    rows = cursor.fetchall()
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in rows]  # noqa: B905


def _best(fn: Callable[[], object]) -> float:
    return min(_timed(fn) for _ in range(REPEATS))


def _timed(fn: Callable[[], object]) -> float:
    # CPU time of this process: the other work on the shared cores does not count.
    started = time.process_time()
    fn()
    return time.process_time() - started


def main() -> None:
    quick = "--quick" in sys.argv
    customers = 5_000 if quick else CUSTOMERS
    folder = Path(tempfile.mkdtemp(prefix="bench-access-"))
    path = folder / "sandbox.db"
    build_sandbox(path, customers=customers)
    plain = sqlite3.connect(path)
    cms = open_sandbox(path)
    lines, worst = [], 0.0
    for name, purpose, sql, params in WORKLOADS:

        def run_plain(sql=sql, params=params) -> None:
            for p in params:
                _as_dicts(plain.execute(sql, p))

        def run_tuples(sql=sql, params=params) -> None:
            for p in params:
                plain.execute(sql, p).fetchall()

        def run_cms(sql=sql, params=params, purpose=purpose) -> None:
            with cms.processing(purpose) as block:
                for p in params:
                    block.query(sql, p)

        for fn in (run_plain, run_tuples, run_cms):  # warm caches
            fn()
        times = {"plain": [], "tuples": [], "cms": []}
        for _ in range(REPEATS):
            times["plain"].append(_timed(run_plain))
            times["tuples"].append(_timed(run_tuples))
            times["cms"].append(_timed(run_cms))
        plain_s, tuples_s, cms_s = (min(times[k]) for k in ("plain", "tuples", "cms"))
        ratio = cms_s / plain_s
        worst = max(worst, ratio)
        lines.append(f"{name:<42} plain {plain_s * 1e3:7.2f} ms  purpose-bound"
                     f" {cms_s * 1e3:7.2f} ms  ratio {ratio:4.2f}  (vs tuples"
                     f" {cms_s / tuples_s:4.2f})")
    single_plain = _best(lambda: _as_dicts(plain.execute(
        "SELECT email FROM customers WHERE id = ?", (7,))))

    def single_block() -> None:
        with cms.processing("newsletter") as block:
            block.query("SELECT email FROM customers WHERE id = ?", (7,))

    single_cms = _best(single_block)
    lines.append(f"{'one look-up in its own block (fixed cost)':<42} plain"
                 f" {single_plain * 1e3:7.3f} ms  purpose-bound {single_cms * 1e3:7.3f} ms")
    lines.append(f"audit entries written: {len(cms.audit)}; chain verifies:"
                 f" {cms.audit.verify().ok}")
    lines.append(f"worst ratio {worst:.2f} (target <= {TARGET}): "
                 f"{'met' if worst <= TARGET else 'NOT met'}")
    cms.close()
    plain.close()
    report(f"purpose-bound reads, {customers:,} customers", lines, machine())


if __name__ == "__main__":
    main()
