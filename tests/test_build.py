"""Building sandboxes: atomic, deterministic byte for byte, fast fresh copies."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox_cms.core.errors import SandboxError, SandboxExists
from sandbox_cms.data.build import build_sandbox, fresh_copy, template_path


def dump(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    result = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    conn.close()
    return result


def test_same_scenario_and_seed_give_identical_databases(tmp_path):
    a = build_sandbox(tmp_path / "a.db", customers=300, seed=11).path
    b = build_sandbox(tmp_path / "b.db", customers=300, seed=11).path
    assert dump(a) == dump(b)
    assert a.read_bytes() == b.read_bytes()


def test_another_seed_gives_other_data(tmp_path):
    a = build_sandbox(tmp_path / "a.db", customers=300, seed=11).path
    c = build_sandbox(tmp_path / "c.db", customers=300, seed=12).path
    assert dump(a) != dump(c)


def test_summary_and_metadata(tmp_path):
    summary = build_sandbox(tmp_path / "s.db", "ebooks", customers=200, seed=5)
    assert summary.rows["customers"] == 200 and summary.rows["orders"] >= 200
    assert counts(summary.path)["customers"] == 200
    conn = sqlite3.connect(summary.path)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert meta["scenario"] == "ebooks" and meta["seed"] == "5" and meta["customers"] == "200"
    assert meta["clock_now"].startswith("2025-09-01")
    assert "faker" in meta["generator_version"]
    # provenance on every row of every table that holds people
    for table in ("customers", "orders", "invoices", "consent_events"):
        missing = conn.execute(
            f"SELECT count(*) FROM {table} WHERE provenance_id IS NULL"
        ).fetchone()
        assert missing == (0,)
    assert conn.execute("SELECT source, scenario, seed FROM provenance").fetchall() == [
        ("generator", "ebooks", 5)
    ]
    with pytest.raises(sqlite3.IntegrityError):  # the unique index on e-mail exists
        conn.execute(
            "INSERT INTO customers (first_name, last_name, email, created_at,"
            " provenance_id) SELECT first_name, last_name, email, created_at, 1"
            " FROM customers LIMIT 1"
        )
    conn.close()


def test_existing_database_is_not_replaced_without_force(tmp_path):
    target = tmp_path / "s.db"
    target.write_bytes(b"precious")
    with pytest.raises(SandboxExists, match="--force"):
        build_sandbox(target, customers=10)
    assert target.read_bytes() == b"precious"
    build_sandbox(target, customers=10, force=True)
    assert counts(target)["customers"] == 10


def test_interrupted_build_leaves_nothing_and_keeps_the_old_database(tmp_path):
    target = tmp_path / "s.db"
    build_sandbox(target, customers=50)
    before = target.read_bytes()

    def interrupt(_customers: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_sandbox(target, customers=5000, force=True, progress=interrupt)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


@pytest.mark.slow
def test_killed_build_never_creates_a_half_database(tmp_path):
    target = tmp_path / "big.db"
    code = (
        "from sandbox_cms.data.build import build_sandbox;"
        f"build_sandbox({str(target)!r}, customers=2_000_000)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    seen_partial = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not seen_partial:
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".building")]
        seen_partial = bool(partial) and partial[0].stat().st_size > 1_000_000
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert seen_partial, "the build finished or never started writing"
    assert not target.exists()


def test_fresh_copy_is_a_private_copy_of_one_template(tmp_path):
    first = fresh_copy(tmp_path / "one.db")
    second = fresh_copy(tmp_path / "two.db")
    assert first.read_bytes() == second.read_bytes() == template_path().read_bytes()
    conn = sqlite3.connect(first)
    conn.execute("DELETE FROM consent_events")
    conn.commit()
    conn.close()
    assert counts(second)["consent_events"] > 0
    assert counts(fresh_copy(tmp_path / "three.db"))["consent_events"] > 0


def test_fresh_copy_without_destination_makes_a_temporary_file():
    path = fresh_copy(scenario="ebooks", customers=100)
    try:
        assert path.exists() and counts(path)["customers"] == 100
    finally:
        path.unlink()


def test_invoices_follow_orders_and_skip_cancelled_ones(tmp_path):
    conn = sqlite3.connect(build_sandbox(tmp_path / "s.db", customers=800).path)
    orphans = conn.execute(
        "SELECT count(*) FROM orders o LEFT JOIN invoices i ON i.order_id = o.id"
        " WHERE (i.id IS NULL) != (o.status = 'cancelled')"
    ).fetchone()
    assert orphans == (0,)
    mismatched = conn.execute(
        "SELECT count(*) FROM invoices i JOIN orders o ON o.id = i.order_id"
        " JOIN customers c ON c.id = i.customer_id"
        " WHERE i.amount_cents != o.total_cents OR i.issued_at != substr(o.ordered_at, 1, 10)"
        " OR i.billing_postcode != c.postcode OR c.id != o.customer_id"
    ).fetchone()
    assert mismatched == (0,)
    # numbered "<year>-<order number>": unique, and the year is the invoice's year
    for number, issued_at, order_id in conn.execute(
        "SELECT number, issued_at, order_id FROM invoices"
    ):
        assert number == f"{issued_at[:4]}-{order_id:07d}"


def test_parallel_build_equals_the_in_process_build(tmp_path, monkeypatch):
    """Worker processes make the same database as one process does."""
    import sandbox_cms.data.build as build

    serial = build_sandbox(tmp_path / "serial.db", customers=45_000, seed=3).path
    monkeypatch.setattr(build, "PARALLEL_FROM", 1)
    parallel = build_sandbox(tmp_path / "parallel.db", customers=45_000, seed=3).path
    assert serial.read_bytes() == parallel.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parallel.db", "serial.db"]


def test_a_folder_is_not_a_database_path(tmp_path):
    with pytest.raises(SandboxError, match="is a folder"):
        build_sandbox(tmp_path, customers=5, force=True)


def test_template_is_rebuilt_when_the_scenario_changes(tmp_path):
    source = Path(__file__).resolve().parent.parent / "datasets/scenarios/webshop.toml"
    changed = tmp_path / "webshop.toml"
    changed.write_text(
        source.read_text().replace("closed_account_rate = 0.02", "closed_account_rate = 0.5")
    )
    original = template_path("webshop", customers=40)
    edited = template_path(str(changed), customers=40)
    assert original != edited
    assert dump(original) != dump(edited)


def test_a_template_in_the_shared_cache_is_read_there_and_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVACY_COURSE_CACHE", str(tmp_path / "instructor"))
    built = template_path(customers=120, seed=5)
    monkeypatch.setenv("PRIVACY_COURSE_CACHE", str(tmp_path / "kernel"))
    monkeypatch.setenv("PRIVACY_COURSE_SHARED_CACHE", str(tmp_path / "instructor"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "instructor").iterdir()}
    # built there already: used from there, nothing built in the own cache
    assert template_path(customers=120, seed=5) == built
    assert not (tmp_path / "kernel").exists()
    copy = fresh_copy(tmp_path / "mine.db", customers=120, seed=5)
    assert copy.read_bytes() == built.read_bytes()
    # not there: built in the own cache, the shared one left as it was
    other = template_path(customers=120, seed=6)
    assert other.parent == tmp_path / "kernel"
    # readable by a grading kernel that runs as another user
    assert built.stat().st_mode & 0o777 == other.stat().st_mode & 0o777 == 0o644
    assert {p.name: p.read_bytes() for p in (tmp_path / "instructor").iterdir()} == before
