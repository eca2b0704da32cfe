"""The retention summary is computed once per change of what it reads, not once per view.

Every write to a table the schedule reads sets a new random token (a trigger per table and
kind of write, whoever writes); a summary is reused only while the token, the moment and the
limit are the same. These tests write behind the CMS's back and expect a fresh, correct
summary (equal to ``due()``) every time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator

import pytest

from sandbox_cms import Sandbox
from sandbox_cms.privacy.retention import (
    ACTIVITY_TRIGGER_PREFIX,
    WATCHED_TABLES,
    changes_token,
)


@contextlib.contextmanager
def _raw(cms: Sandbox) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(cms.path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _same_as_due(cms: Sandbox, limit: int = 7) -> None:
    items = cms.retention.due()
    summary = cms.retention.summary(limit=limit)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.rule] = counts.get(item.rule, 0) + 1
    assert {rule: n for rule, n in summary.counts.items() if n} == counts
    assert summary.total == len(items)
    ordered = sorted(items, key=lambda i: (i.due, i.table, i.row_id, i.customer_id or 0))
    assert summary.first == ordered[:limit]


def _reads(cms: Sandbox) -> int:
    """How many audit entries a summary call adds (its reads under retention's purpose)."""
    before = len(cms.audit)
    cms.retention.summary(limit=5)
    return len(cms.audit) - before


def test_nothing_changed_nothing_read_again(cms: Sandbox) -> None:
    first = cms.retention.summary(limit=5)
    assert _reads(cms) == 0
    again = cms.retention.summary(limit=5)
    assert again == first
    again.first.clear()  # a caller's change to its copy stays its own
    again.counts.clear()
    assert cms.retention.summary(limit=5) == first
    assert _reads(cms) == 0
    # Another moment or limit is another summary.
    assert cms.retention.summary(limit=6).first[:5] == first.first
    cms.clock.advance(days=1)
    assert _reads(cms) > 0


def test_every_watched_table_has_a_trigger_for_every_kind_of_write(cms: Sandbox) -> None:
    cms.retention.summary()
    with _raw(cms) as raw:
        names = {name for (name,) in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for table in WATCHED_TABLES:
        for kind in ("ins", "upd", "del"):
            assert f"{ACTIVITY_TRIGGER_PREFIX}changed_{table}_{kind}" in names


@pytest.mark.parametrize("table", [t for t in WATCHED_TABLES
                                   if t not in ("mailings", "mailing_recipients", "disclosures")])
def test_an_update_of_any_watched_table_is_a_change(cms: Sandbox, table: str) -> None:
    cms.retention.summary(limit=5)
    token = changes_token(cms.connection)
    with _raw(cms) as raw:
        changed = raw.execute(f"UPDATE {table} SET rowid = rowid "
                              f"WHERE rowid = (SELECT min(rowid) FROM {table})").rowcount
    assert changed == 1
    assert changes_token(cms.connection) != token
    assert _reads(cms) > 0


def test_inserts_and_deletes_are_changes(cms: Sandbox) -> None:
    now = cms.clock.now().isoformat()
    cms.retention.summary(limit=5)
    for sql, params in (
        ("INSERT INTO mailings (id, purpose, subject, sent_at) VALUES (1, 'newsletter', 's', ?)",
         (now,)),
        ("INSERT INTO mailing_recipients (mailing_id, customer_id) VALUES (1, 3)", ()),
        ("INSERT INTO disclosures (customer_id, recipient, purpose, columns, at) "
         "VALUES (3, 'x', 'antipiracy_sharing', '[]', ?)", (now,)),
        ("DELETE FROM mailing_recipients", ()),
        ("DELETE FROM mailings", ()),
        ("DELETE FROM disclosures", ()),
    ):
        token = changes_token(cms.connection)
        with _raw(cms) as raw:
            raw.execute(sql, params)
        assert changes_token(cms.connection) != token, sql
        assert _reads(cms) > 0, sql


def test_a_withdrawal_written_behind_its_back_shows_in_the_next_summary(cms: Sandbox) -> None:
    _same_as_due(cms)
    long_ago = (cms.clock.now() - dt.timedelta(days=6 * 365)).isoformat()
    with _raw(cms) as raw:
        customer, purpose = raw.execute(
            "SELECT customer_id, purpose FROM consent_events WHERE event = 'granted' "
            "ORDER BY id LIMIT 1").fetchone()
        raw.execute("UPDATE consent_events SET at = ? WHERE customer_id = ? AND purpose = ?",
                    (long_ago, customer, purpose))
        raw.execute("INSERT INTO consent_events (customer_id, purpose, event, at, text_version,"
                    " method, channel, provenance_id) VALUES (?, ?, 'withdrawn', ?, 'v',"
                    " 'separate_checkbox', 'checkout', 1)", (customer, purpose, long_ago))
    summary = cms.retention.summary(limit=7)
    assert summary.counts["consent_proof"] >= 2
    _same_as_due(cms)


def test_a_dropped_change_trigger_is_put_back_with_a_new_token(cms: Sandbox) -> None:
    cms.retention.summary()
    token = changes_token(cms.connection)
    with _raw(cms) as raw:
        raw.execute(f"DROP TRIGGER {ACTIVITY_TRIGGER_PREFIX}changed_invoices_upd")
        raw.execute("UPDATE invoices SET issued_at = '2001-01-01T00:00:00' WHERE id = 1")
    _same_as_due(cms)  # the invoice of 2001 is due, though no trigger saw the change
    assert changes_token(cms.connection) != token
