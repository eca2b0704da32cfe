"""Scan and import speed, against baselines measured in the same run.

Scan (``sandbox-cms scan`` on a 100k-customer sandbox):
- floor: a Python loop that only reads every value of every table (no checks at all);
- naive: the same loop calling ``check_value`` on every value;
- ours: ``scan_path`` (cheap filters pushed into SQLite, only candidates reach Python).

Import (``sandbox-cms import`` of a CSV of synthetic customers):
- raw limit: plain sqlite3 ``executemany`` of the same rows in one transaction, unchecked;
- ours: ``import_customers`` (parse, guard every row, duplicate check, insert, provenance).

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m benchmarks.bench_scan [--quick]``.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, report
from sandbox_cms.data.build import build_sandbox
from sandbox_cms.data.guard import CUSTOMER_FIELDS, make_iban
from sandbox_cms.data.importer import import_customers
from sandbox_cms.data.scan import check_value, scan_path

SCAN_CUSTOMERS = 100_000
IMPORT_ROWS = 50_000


def timed(func) -> tuple[float, object]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]


def read_floor(db: Path) -> int:
    """Read every value of every table in Python and do nothing with it."""
    conn = sqlite3.connect(db)
    count = 0
    for table in _tables(conn):
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            count += len(row)
    conn.close()
    return count


def naive_scan(db: Path) -> int:
    """check_value on every value, row by row."""
    conn = sqlite3.connect(db)
    found = 0
    for table in _tables(conn):
        cursor = conn.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cursor.description]
        for row in cursor:
            for name, value in zip(names, row, strict=True):
                found += len(check_value(name, value))
    conn.close()
    return found


def write_import_csv(path: Path, rows: int) -> list[tuple]:
    records = []
    for i in range(rows):
        records.append((f"Voor{i % 97}", f"Achter{i % 89}", f"klant{i}@import.example.com",
                        "+31 6 1000 0000", "Springlaan", str(i % 300 + 1), "1234 AB",
                        "Veerdam", "NL", "1980-01-01",
                        make_iban("XMPL", i) if i % 3 == 0 else "", "", "2024-01-01T10:00:00", ""))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CUSTOMER_FIELDS)
        writer.writerows(records)
    return records


def raw_insert(db: Path, records: list[tuple]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO customers ({', '.join(CUSTOMER_FIELDS)}, provenance_id) "
        f"VALUES ({', '.join('?' * len(CUSTOMER_FIELDS))}, 1)",
        [tuple(v or None for v in r) for r in records],
    )
    conn.execute("COMMIT")
    conn.close()


def main() -> None:
    quick = "--quick" in sys.argv
    customers = 20_000 if quick else SCAN_CUSTOMERS
    import_rows = 10_000 if quick else IMPORT_ROWS
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        db = base / "scan.db"
        build_sandbox(db, customers=customers)
        floor_s, values = timed(lambda: read_floor(db))
        naive_s, naive_found = timed(lambda: naive_scan(db))
        ours_s, findings = timed(lambda: list(scan_path(db)))
        assert naive_found == len(findings) == 0, "a fresh sandbox must scan clean"

        small = base / "small.db"
        build_sandbox(small, customers=100)
        source = base / "people.csv"
        records = write_import_csv(source, import_rows)
        raw_db, our_db = base / "raw.db", base / "ours.db"
        shutil.copyfile(small, raw_db)
        shutil.copyfile(small, our_db)
        raw_s, _ = timed(lambda: raw_insert(raw_db, records))
        import_s, result = timed(lambda: import_customers(our_db, source))
        assert result.inserted == import_rows

    lines = [
        f"scan of a {customers:,}-customer sandbox ({values:,} values)",
        f"  read-only floor     {floor_s:>8.2f} s",
        f"  naive check_value   {naive_s:>8.2f} s",
        f"  scan_path           {ours_s:>8.2f} s",
        f"    vs naive          {naive_s / ours_s:>8.1f} x faster",
        f"    vs floor          {ours_s / floor_s:>8.2f} x the time of just reading",
        f"import of {import_rows:,} customers from CSV",
        f"  raw executemany     {import_rows / raw_s:>10,.0f} rows/s (unchecked)",
        f"  import_customers    {import_rows / import_s:>10,.0f} rows/s (guarded)",
        f"    vs raw            {raw_s / import_s:>8.2f} x the raw rate",
    ]
    report("scan and import", lines, machine())


if __name__ == "__main__":
    main()
