"""Seeding speed and memory, against two baselines measured in the same run.

- naive: the obvious loop, one Faker nl_NL call per field and one INSERT per row;
- raw limit: plain sqlite3 ``executemany`` of the very rows the generator makes, in one
  transaction, with the same schema, pragmas and indexes (generation time excluded);
- ours: ``build_sandbox`` (generation + insertion + indexes + register);
- a million customers in a subprocess, with its peak memory;
- opening a fresh copy of the default sandbox (template copy + first query).

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m benchmarks.bench_seed``.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faker import Faker

from benchmarks.common import machine, report
from sandbox_cms.core import schema
from sandbox_cms.data.build import BULK_PRAGMAS, build_sandbox, fresh_copy, template_path

INSERT_SQL = {
    name: f"INSERT INTO {name} VALUES ({', '.join('?' * width)})"
    for name, width in {
        "customers": 16,
        "orders": 6,
        "order_items": 5,
        "invoices": 12,
        "consent_events": 9,
    }.items()
}
NAIVE_CUSTOMERS = 3_000
FAST_CUSTOMERS = 200_000
MILLION = 1_000_000


def naive(path: Path, customers: int) -> float:
    """Customers/s for the obvious loop: every value from a Faker nl_NL call, one INSERT per row.

    Same tables and pragmas as the real build; about the same rows per customer.
    """
    fake = Faker("nl_NL")
    fake.seed_instance(1)
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in BULK_PRAGMAS:
        conn.execute(pragma)
    conn.execute("BEGIN")
    schema.create_tables(conn)
    started = time.perf_counter()
    order_id = invoice_id = item_id = 0
    for cid in range(1, customers + 1):
        first, last = fake.first_name(), fake.last_name()
        created = fake.date_time_between("-6y", "-1y").isoformat()
        conn.execute(
            INSERT_SQL["customers"],
            (
                cid,
                first,
                last,
                f"{fake.user_name()}.{cid}@example.com",
                fake.phone_number(),
                fake.street_name(),
                fake.building_number(),
                fake.postcode(),
                fake.city(),
                "NL",
                fake.date_of_birth().isoformat(),
                fake.iban() if fake.pybool(35) else None,
                None,
                created,
                None,
                1,
            ),
        )
        for _ in range(2 if fake.pybool(2) else 1):
            order_id += 1
            total = 0
            ordered = fake.date_time_between("-6y", "-1y").isoformat()
            for _ in range(fake.random_int(1, 3)):
                item_id += 1
                price = fake.random_int(500, 40000)
                quantity = fake.random_element((1, 1, 1, 2))
                total += price * quantity
                conn.execute(
                    INSERT_SQL["order_items"],
                    (item_id, order_id, fake.random_int(1, 8), quantity, price),
                )
            conn.execute(
                INSERT_SQL["orders"],
                (order_id, cid, ordered, fake.random_element(("delivered", "returned")), total, 1),
            )
            invoice_id += 1
            conn.execute(
                INSERT_SQL["invoices"],
                (
                    invoice_id,
                    f"N-{invoice_id}",
                    order_id,
                    cid,
                    ordered[:10],
                    f"{first} {last}",
                    fake.street_address(),
                    fake.postcode(),
                    fake.city(),
                    total,
                    total * 21 // 121,
                    1,
                ),
            )
        if fake.pybool(30):
            conn.execute(
                INSERT_SQL["consent_events"],
                (
                    None,
                    cid,
                    "newsletter",
                    "granted",
                    created,
                    "newsletter-v2",
                    fake.random_element(("separate_checkbox", "pre_ticked")),
                    "checkout",
                    1,
                ),
            )
    schema.create_indexes(conn)
    conn.execute("COMMIT")
    conn.close()
    return customers / (time.perf_counter() - started)


def raw_limit(built: Path, path: Path) -> tuple[float, int]:
    """Customers/s for plain executemany of the rows of an already built sandbox.

    The rows are read into memory first (not timed), then inserted in one transaction into
    the same schema with the same pragmas and indexes.
    """
    source = sqlite3.connect(built)
    tables = ("customers", "orders", "order_items", "invoices", "consent_events")
    rows = {t: source.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    customers = len(rows["customers"])
    source.close()
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in BULK_PRAGMAS:
        conn.execute(pragma)
    started = time.perf_counter()
    conn.execute("BEGIN")
    schema.create_tables(conn)
    for table, table_rows in rows.items():
        width = len(table_rows[0])
        conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", table_rows)
    schema.create_indexes(conn)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return customers / seconds, sum(len(r) for r in rows.values())


def ours(path: Path, customers: int) -> float:
    summary = build_sandbox(path, "webshop", customers=customers, force=True)
    return customers / summary.seconds


def million(path: Path) -> tuple[float, float, float]:
    """Seconds, and peak memory (MiB) of the builder and of its largest worker, for 1M."""
    code = (
        "import resource; from sandbox_cms.data.build import build_sandbox;"
        f"s = build_sandbox({str(path)!r}, 'webshop', customers={MILLION}, force=True);"
        "print(s.seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    seconds, builder_kib, worker_kib = out.stdout.split()
    return float(seconds), int(builder_kib) / 1024, int(worker_kib) / 1024


def fresh_open_ms(samples: int = 30) -> float:
    template_path()  # build the template once, outside the measurement
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(samples):
            started = time.perf_counter()
            copy = fresh_copy(Path(tmp) / f"copy{i}.db")
            conn = sqlite3.connect(copy)
            conn.execute("SELECT count(*) FROM customers").fetchone()
            conn.close()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    quick = "--quick" in sys.argv
    fast_n = 20_000 if quick else FAST_CUSTOMERS
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        naive_rate = naive(base / "naive.db", 500 if quick else NAIVE_CUSTOMERS)
        our_rate = ours(base / "ours.db", fast_n)
        raw_rate, rows = raw_limit(base / "ours.db", base / "raw.db")
        lines = [
            f"naive Faker loop      {naive_rate:>10,.0f} customers/s",
            f"raw executemany limit {raw_rate:>10,.0f} customers/s ({rows / fast_n:.2f} rows each)",
            f"build_sandbox         {our_rate:>10,.0f} customers/s",
            f"  vs naive            {our_rate / naive_rate:>10.1f} x   (target >= 10x)",
            f"  vs raw limit        {our_rate / raw_rate:>10.2f} x   (target >= 0.5x)",
        ]
        if not quick:
            seconds, builder, worker = million(base / "million.db")
            lines.append(
                f"1,000,000 customers   {seconds:>10.1f} s, peak memory {builder:,.0f} MiB"
                f" (builder) + {worker:,.0f} MiB (largest worker)"
            )
        lines.append(f"fresh copy + open     {fresh_open_ms():>10.1f} ms median (target < 50 ms)")
    report("seed", lines, machine())


if __name__ == "__main__":
    main()
