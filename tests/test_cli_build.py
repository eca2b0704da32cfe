"""`sandbox-cms seed` and `sandbox-cms scenarios`: run the command, check the database."""

import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_seed_builds_the_database_and_prints_a_summary(tmp_path):
    db = tmp_path / "shop.db"
    result = run(
        "seed", "--scenario", "ebooks", "--customers", "150", "--seed", "4", "--db", str(db)
    )
    assert result.exit_code == 0, result.output
    assert "scenario 'ebooks' (seed 4)" in result.output
    assert "customers" in result.output and "150" in result.output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM customers").fetchone() == (150,)
    assert dict(conn.execute("SELECT key, value FROM meta"))["scenario"] == "ebooks"


def test_seed_refuses_to_overwrite_without_force(tmp_path):
    db = tmp_path / "shop.db"
    assert run("seed", "--customers", "20", "--db", str(db)).exit_code == 0
    before = db.read_bytes()
    result = run("seed", "--customers", "30", "--db", str(db))
    assert result.exit_code == 1
    assert "already exists (use --force" in result.output
    assert "Traceback" not in result.output
    assert db.read_bytes() == before
    assert run("seed", "--customers", "30", "--db", str(db), "--force").exit_code == 0
    assert sqlite3.connect(db).execute("SELECT count(*) FROM customers").fetchone() == (30,)


def test_bad_input_gets_one_line_and_no_database(tmp_path):
    db = tmp_path / "shop.db"
    unknown = run("seed", "--scenario", "bakery", "--db", str(db))
    assert unknown.exit_code == 1 and "unknown scenario 'bakery'" in unknown.output
    negative = run("seed", "--customers", "-5", "--db", str(db))
    assert negative.exit_code == 2 and "-5" in negative.output
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ", encoding="utf-8")
    malformed = run("seed", "--scenario", str(broken), "--db", str(db))
    assert malformed.exit_code == 1 and "not valid TOML" in malformed.output
    huge = run("seed", "--customers", str(10**20), "--db", str(db))
    assert huge.exit_code == 1 and huge.output.startswith("Error: customers must be at most")
    seed = run("seed", "--seed", str(10**23), "--customers", "5", "--db", str(db))
    assert seed.exit_code == 1 and seed.output.startswith("Error: seed must fit in 64 bits")
    assert not db.exists() and not list(tmp_path.glob(".shop.db.*"))


def test_scenarios_lists_the_shipped_ones():
    result = run("scenarios")
    assert result.exit_code == 0
    assert "webshop" in result.output and "ebooks" in result.output


def test_unusable_paths_get_a_clear_message(tmp_path):
    folder = run("seed", "--customers", "5", "--db", str(tmp_path), "--force")
    assert folder.exit_code == 2 and "is a directory" in folder.output
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    nested = run("seed", "--customers", "5", "--db", str(blocker / "shop.db"))
    assert nested.exit_code == 1 and "cannot write in" in nested.output
    assert "Traceback" not in nested.output


@pytest.mark.slow
def test_seed_stopped_with_sigterm_leaves_nothing_behind(tmp_path):
    target = tmp_path / "big.db"
    code = "import sys; from sandbox_cms.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "seed", "--db", str(target), "--customers", "3000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.endswith(".building") for p in tmp_path.iterdir()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build ended before it could be stopped"
    time.sleep(1)  # let the worker processes start writing parts
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # no database, no temporary file, no parts folder
