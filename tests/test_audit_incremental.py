"""Verifying the audit chain from a checkpoint (the dashboard's check), and its limits.

``audit.verify(since=checkpoint)`` walks only the entries after an entry found intact before.
It must find every change to that entry and after it; a change before it is found by the
full verification, which the audit page runs every time.
"""

from __future__ import annotations

import sqlite3

import pytest

from sandbox_cms.privacy import audit


def _fill(cms, n: int) -> None:
    for _ in range(n):
        cms.audit.append(actor="test", purpose="newsletter", action="read", table="customers",
                         columns=["customers.email"], row_ids=[1, 2])


def _behind_the_back(db_path, *statements: str) -> None:
    conn = sqlite3.connect(db_path)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.fixture
def checked(cms):
    """A log of 5 entries found intact (its checkpoint), then 3 more appended."""
    _fill(cms, 5)
    first = cms.audit.verify()
    assert first.ok and first.checkpoint == audit.Checkpoint(5, cms.audit.head()[1])
    _fill(cms, 3)
    return first.checkpoint


def test_from_a_checkpoint_only_the_new_entries_are_walked(cms, checked):
    result = cms.audit.verify(since=checked)
    assert result.ok and result.entries == 8
    assert "entries 6..8 checked now" in result.message
    assert result.checkpoint == audit.Checkpoint(8, cms.audit.head()[1])
    assert result.checkpoint == cms.audit.verify().checkpoint  # the same as a full walk
    again = cms.audit.verify(since=result.checkpoint)
    assert again.ok and "no new entries" in again.message


def test_an_empty_log_has_no_checkpoint(cms):
    result = cms.audit.verify()
    assert result.ok and result.entries == 0 and result.checkpoint is None


@pytest.mark.parametrize(
    ("tamper", "first_broken", "message"),
    [
        ("UPDATE audit_log SET actor = 'x' WHERE seq = 7", 7, "entry 7 was changed"),
        ("UPDATE audit_log SET actor = 'x' WHERE seq = 5", 5,
         "entry 5 was changed after it was found intact"),
        ("UPDATE audit_log SET hash = 'f' WHERE seq = 5", 5, "entry 5 was changed"),
        ("DELETE FROM audit_log WHERE seq = 7", 7, "entry 7 is missing"),
        ("DELETE FROM audit_log WHERE seq >= 5", 5, "entry 5, found intact before, is missing"),
        ("DELETE FROM audit_log WHERE seq >= 7", 7, "entries 7..8 were removed"),
        ("INSERT INTO audit_log VALUES (9, '2025-03-01', 'x', NULL, 'read', NULL, '[]', '[]',"
         " NULL, 'f', 'f')", 9, "entry 9 was added"),
        ("UPDATE meta SET value = '3' WHERE key = 'audit_count'", 4,
         "fewer than the 5 found intact before"),
    ],
)
def test_tampering_at_or_after_the_checkpoint_is_found(cms, db_path, checked, tamper,
                                                      first_broken, message):
    _behind_the_back(db_path, tamper)
    result = cms.audit.verify(since=checked)
    assert not result.ok and result.checkpoint is None
    assert result.first_broken == first_broken
    assert message in result.message
    assert not cms.audit.verify().ok  # and by the full walk


def test_a_rewrite_after_the_checkpoint_with_fresh_hashes_breaks_the_next_link(cms, db_path,
                                                                                checked):
    row = cms.audit.entries()[5]  # entry 6, the first after the checkpoint
    fields = (6, row.at, row.actor, "analytics", row.action, row.table, '["customers.email"]',
              "[1,2]", None)
    new_hash = audit.entry_hash(row.prev_hash, fields)
    _behind_the_back(db_path, f"UPDATE audit_log SET purpose = 'analytics', hash = '{new_hash}'"
                              " WHERE seq = 6")
    result = cms.audit.verify(since=checked)
    assert (result.ok, result.first_broken) == (False, 6)
    assert "entry 7 does not link" in result.message


def test_a_change_before_the_checkpoint_needs_the_full_walk(cms, db_path, checked):
    """The documented limit: the incremental check does not re-read what it found intact."""
    _behind_the_back(db_path, "UPDATE audit_log SET actor = 'x' WHERE seq = 2")
    assert cms.audit.verify(since=checked).ok
    full = cms.audit.verify()
    assert (full.ok, full.first_broken) == (False, 2)


# -- the dashboard keeps a checkpoint per database file; the audit page walks everything ----


def _status(client, url: str) -> str:
    body = client.get(url).get_data(as_text=True)
    return "yes" if 'data-audit-ok="yes"' in body else "no" if 'data-audit-ok="no"' in body \
        else "?"


def test_the_dashboard_checks_only_new_entries_after_its_first_view(client, rendered):
    client.get("/")
    first = rendered[-1][1]["verification"]
    assert first.ok and "earlier check" not in first.message
    client.get("/customers/4?purpose=warranty")
    client.get("/")
    second = rendered[-1][1]["verification"]
    assert second.ok and second.entries > first.entries
    assert f"entries 1..{first.entries} at an earlier check" in second.message


def test_tampering_after_the_remembered_head_shows_on_the_next_dashboard(client, db_path):
    assert _status(client, "/") == "yes"
    client.get("/customers/4?purpose=warranty")  # entries after the remembered head
    _behind_the_back(db_path, "UPDATE audit_log SET actor = 'someone else'"
                              " WHERE seq = (SELECT max(seq) FROM audit_log)")
    assert _status(client, "/") == "no"


def test_tampering_before_the_remembered_head_is_found_by_the_audit_page(client, db_path):
    assert _status(client, "/") == "yes"
    _behind_the_back(db_path, "UPDATE audit_log SET actor = 'someone else' WHERE seq = 1")
    assert _status(client, "/") == "yes"  # the dashboard's check starts after entry 1 ...
    assert _status(client, "/audit") == "no"  # ... the audit page walks the whole chain
    assert _status(client, "/") == "no"  # and a broken chain drops the checkpoint


def test_a_replaced_database_file_is_checked_in_full(client, rendered, db_path):
    client.get("/")
    assert rendered[-1][1]["verification"].ok
    copy = db_path.with_name("copy.db")
    with sqlite3.connect(db_path) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # the database with what its write-ahead log holds
    _behind_the_back(copy, "UPDATE audit_log SET actor = 'someone else' WHERE seq = 1")
    server = client.application.extensions["sandbox_cms"].local.sandbox
    server.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nothing left to replay
    copy.replace(db_path)  # another file under the same name, as a restore renames one in
    server.reopen()
    assert _status(client, "/") == "no"  # a new file: the dashboard walks the whole chain
