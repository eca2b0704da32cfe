"""The simulated clock: now, set, advance; it never moves backwards."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from sandbox_cms import open_sandbox
from sandbox_cms.cli import main
from sandbox_cms.core.errors import ClockError


def test_the_clock_starts_at_the_scenarios_now(cms):
    assert cms.clock.now() == dt.datetime(2025, 3, 1, 9, 0)


def test_set_and_advance_move_forward_and_persist(cms, db_path):
    cms.clock.set("2026-01-01")
    assert cms.clock.now() == dt.datetime(2026, 1, 1)
    cms.clock.advance(days=2, hours=3)
    assert cms.clock.now() == dt.datetime(2026, 1, 3, 3, 0)
    cms.clock.set(dt.date(2027, 5, 1))
    with open_sandbox(db_path) as again:
        assert again.clock.now() == dt.datetime(2027, 5, 1)


def test_moving_backwards_is_refused_and_changes_nothing(cms):
    before = cms.clock.now()
    with pytest.raises(ClockError, match="cannot move backwards"):
        cms.clock.set(before - dt.timedelta(seconds=1))
    with pytest.raises(ClockError, match="cannot move backwards"):
        cms.clock.advance(days=-1)
    assert cms.clock.now() == before
    assert not cms.audit.entries(action="clock")


@pytest.mark.parametrize("bad", ["next tuesday", "2025-13-01", 42])
def test_bad_times_are_refused(cms, bad):
    with pytest.raises(ClockError):
        cms.clock.set(bad)


def test_an_aware_time_is_taken_as_utc(cms):
    cest = dt.timezone(dt.timedelta(hours=2))
    assert cms.clock.set(dt.datetime(2026, 6, 1, 12, 0, tzinfo=cest)) == dt.datetime(2026, 6, 1, 10)


def test_every_move_is_in_the_audit_log(cms):
    cms.clock.set("2026-01-01")
    cms.clock.set("2026-01-01")  # no move, no entry
    (entry,) = cms.audit.entries(action="clock")
    assert entry.detail == {"from": "2025-03-01T09:00:00", "to": "2026-01-01T00:00:00"}
    assert entry.at == "2026-01-01T00:00:00"
    assert cms.audit.verify().ok


def test_audit_times_follow_the_clock(cms):
    cms.clock.set("2030-02-02T10:00")
    with cms.processing("newsletter") as p:
        p.query("SELECT id, email FROM customers LIMIT 1")
    assert cms.audit.entries(action="read")[-1].at == "2030-02-02T10:00:00"


def test_cli_show_set_advance_and_backwards(db_path):
    runner = CliRunner()
    assert runner.invoke(main, ["clock", "show", "--db", str(db_path)]).output.strip() == \
        "2025-03-01 09:00:00"
    result = runner.invoke(main, ["clock", "set", "--db", str(db_path), "2031-01-01"])
    assert result.exit_code == 0 and "2031-01-01 00:00:00" in result.output
    result = runner.invoke(main, ["clock", "advance", "--db", str(db_path), "--days", "1.5"])
    assert "2031-01-02 12:00:00" in result.output
    result = runner.invoke(main, ["clock", "set", "--db", str(db_path), "2020-01-01"])
    assert result.exit_code == 1
    assert "cannot move backwards" in result.output and "Traceback" not in result.output
    with open_sandbox(db_path) as cms:
        assert cms.clock.now() == dt.datetime(2031, 1, 2, 12)


def test_a_sandbox_without_a_clock_says_so(db_path):
    import sqlite3

    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER clock_never_removed")  # the database refuses it otherwise
    conn.execute("DELETE FROM meta WHERE key = 'clock_now'")
    conn.commit()
    conn.close()
    with open_sandbox(db_path) as cms, pytest.raises(ClockError, match="no clock"):
        cms.clock.now()


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), 1e308])
def test_advancing_by_a_non_finite_or_huge_amount_is_refused(cms, amount):
    before = cms.clock.now()
    with pytest.raises(ClockError, match="finite|beyond the year 9999"):
        cms.clock.advance(days=amount)
    assert cms.clock.now() == before


def test_cli_advance_beyond_year_9999_is_one_line(db_path):
    runner = CliRunner()
    for days in ("1e308", "nan"):
        result = runner.invoke(main, ["clock", "advance", "--db", str(db_path), "--days", days])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and result.exception.__class__ is SystemExit
    with open_sandbox(db_path) as cms:
        assert cms.clock.now() == dt.datetime(2025, 3, 1, 9, 0)
