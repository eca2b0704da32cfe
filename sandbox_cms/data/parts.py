"""Chunks of generated rows as small SQLite files ("parts"), made in parallel, copied in order.

A part holds one chunk of :class:`sandbox_cms.data.synth.ChunkGenerator`. Worker processes
(``python -m sandbox_cms.data.parts``) write parts while the builder copies finished ones into
the sandbox with ``INSERT ... SELECT``, which runs entirely inside SQLite. Copying adds the
running id offsets, so the result does not depend on how many workers there were.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from sandbox_cms.core import schema
from sandbox_cms.data.scenario import Scenario
from sandbox_cms.data.synth import CHUNK_SIZE, VAT_RATE_PERCENT, Chunk, ChunkGenerator

TABLES = ("customers", "orders", "order_items", "consent_events", "invoices")
PART_PRAGMAS = (
    "PRAGMA page_size = 16384",
    "PRAGMA journal_mode = OFF",
    "PRAGMA synchronous = OFF",
    "PRAGMA cache_size = -100000",
)
# Order, order line and consent event ids in a part start at 1; these add the offsets.
COPY_SQL = {
    "customers": "INSERT INTO main.customers SELECT * FROM part.customers",
    "orders": """INSERT INTO main.orders SELECT id + :orders, customer_id, ordered_at,
                 status, total_cents, provenance_id FROM part.orders""",
    "order_items": """INSERT INTO main.order_items SELECT id + :order_items,
                      order_id + :orders, product_id, quantity, unit_price_cents
                      FROM part.order_items""",
    "consent_events": """INSERT INTO main.consent_events SELECT id + :consent_events,
                         customer_id, purpose, event, at, text_version, method, channel,
                         provenance_id FROM part.consent_events""",
    # Every order that was not cancelled has one invoice, numbered "<year>-<order number>",
    # billed to the customer's name (or company) and address.
    "invoices": f"""INSERT INTO main.invoices
        SELECT o.id + :orders,
               substr(o.ordered_at, 1, 4) || '-' || printf('%07d', o.id + :orders),
               o.id + :orders, c.id, substr(o.ordered_at, 1, 10),
               coalesce(c.company, c.first_name || ' ' || c.last_name),
               c.street || ' ' || c.house_number, c.postcode, c.city, o.total_cents,
               CAST(round(o.total_cents * {VAT_RATE_PERCENT} / {100 + VAT_RATE_PERCENT}.0)
                    AS INTEGER),
               o.provenance_id
        FROM part.orders o JOIN part.customers c ON c.id = o.customer_id
        WHERE o.status != 'cancelled'""",
}


def part_name(k: int) -> str:
    return f"part-{k:05d}.db"


def write_part(chunk: Chunk, path: Path) -> None:
    """Write one chunk to a new SQLite file, atomically (temporary name, then rename)."""
    tmp = path.with_suffix(".tmp")
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        for pragma in PART_PRAGMAS:
            conn.execute(pragma)
        conn.execute("BEGIN")
        for table, rows in chunk.tables().items():
            conn.execute(schema.TABLES[table])
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    os.replace(tmp, path)


def copy_part(conn: sqlite3.Connection, path: Path, counts: dict[str, int]) -> int:
    """Copy a part into the database on ``conn`` (in autocommit mode) in one transaction.

    Updates ``counts`` (rows per table so far) and returns the part's number of customers.
    """
    conn.execute("ATTACH DATABASE ? AS part", (str(path),))
    try:
        offsets = dict(counts)
        conn.execute("BEGIN")
        for table in TABLES:
            counts[table] += conn.execute(COPY_SQL[table], offsets).rowcount
        conn.execute("COMMIT")
        return counts["customers"] - offsets["customers"]
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.execute("DETACH DATABASE part")


def make_parts(spec: Scenario, folder: Path, workers: int) -> Iterator[Path]:
    """Yield the paths of the scenario's parts in order, made by ``workers`` processes.

    With ``workers == 0`` the parts are made in this process, one at a time.
    """
    if workers == 0:
        generator = ChunkGenerator(spec)
        for k in range(generator.chunks):
            path = folder / part_name(k)
            write_part(generator.chunk(k), path)
            yield path
        return
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sandbox_cms.data.parts", str(folder), str(w), str(workers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            pickle.dump(spec, proc.stdin)
            proc.stdin.close()
        chunks = -(-spec.customers // CHUNK_SIZE)
        for k in range(chunks):
            proc = procs[k % workers]
            line = proc.stdout.readline().decode().strip()  # worker says "k" when done
            if line != str(k):
                problem = proc.stderr.read().decode(errors="replace").strip()
                raise RuntimeError(f"a generator process failed: {problem or line}")
            yield folder / part_name(k)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()


def _worker(folder: Path, worker: int, workers: int) -> None:
    """Make parts worker, worker + workers, ...; print each part's number when written."""
    spec = pickle.load(sys.stdin.buffer)
    generator = ChunkGenerator(spec)
    for k in range(worker, generator.chunks, workers):
        write_part(generator.chunk(k), folder / part_name(k))
        print(k, flush=True)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
