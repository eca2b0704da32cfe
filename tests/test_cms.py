"""The Sandbox facade: opening, fresh copies, the register, lazy parts, lifetime."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox_cms import Sandbox, fresh_sandbox, open_sandbox
from sandbox_cms.core.errors import NotASandbox


def test_open_refuses_a_missing_file_and_does_not_create_it(tmp_path):
    missing = tmp_path / "nothing.db"
    with pytest.raises(NotASandbox, match="no such sandbox"):
        open_sandbox(missing)
    assert not missing.exists()


def test_open_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 50)
    with pytest.raises(NotASandbox, match="not a sandbox database"):
        open_sandbox(path)


def test_open_refuses_a_database_that_is_not_a_sandbox(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(NotASandbox, match="no table meta"):
        open_sandbox(path)


def test_fresh_sandboxes_are_independent_copies(tmp_path):
    with fresh_sandbox(path=tmp_path / "a.db") as a, fresh_sandbox(path=tmp_path / "b.db") as b:
        a.clock.advance(days=1)
        assert b.clock.now() < a.clock.now()
        assert a.meta("scenario") == "webshop" and a.path != b.path


def test_fresh_sandbox_of_another_scenario_and_size(tmp_path):
    with fresh_sandbox("ebooks", customers=30, seed=7, path=tmp_path / "e.db") as cms:
        assert (cms.meta("scenario"), cms.meta("customers"), cms.meta("seed")) == \
            ("ebooks", "30", "7")
        with cms.processing("analytics") as p:
            assert p.query("SELECT count(id) AS n FROM customers")[0]["n"] == 30


def test_the_register_is_read_from_the_sandbox(db_path):
    with open_sandbox(db_path) as cms:
        assert cms.register.purpose("newsletter").legal_ground == "consent"
        assert cms.purposes is cms.register.purposes
        assert cms.register.purpose("dsr_erasure").internal


def test_a_sandbox_with_an_empty_register_gets_the_shipped_one(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM purposes")
    conn.execute("DELETE FROM meta WHERE key = 'policy_fingerprint'")
    conn.commit()
    conn.close()
    with open_sandbox(db_path) as cms:
        assert "newsletter" in cms.register.purposes
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM purposes").fetchone()[0] > 0
    conn.close()


def test_a_sandbox_built_with_older_policy_files_is_brought_up_to_date(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM purposes WHERE name = 'newsletter'")
    conn.execute("UPDATE purposes SET columns = '[]' WHERE name = 'analytics'")
    conn.execute("UPDATE meta SET value = 'older' WHERE key = 'policy_fingerprint'")
    conn.commit()
    conn.close()
    with open_sandbox(db_path) as cms:
        assert "newsletter" in cms.register.purposes
        assert "orders.total_cents" in cms.register.purpose("analytics").columns
    with open_sandbox(db_path) as cms:  # and a sandbox that is up to date is left alone
        assert cms.meta("policy_fingerprint") != "older"


def test_close_writes_pending_entries_and_closes(db_path):
    cms = open_sandbox(db_path)
    p = cms.processing("newsletter").__enter__()  # a block left open, as in a notebook
    p.query("SELECT email FROM customers LIMIT 1")
    cms.close()
    cms.close()  # twice is harmless
    with open_sandbox(db_path) as again:
        assert [e.action for e in again.audit.entries()] == ["read"]


def test_reading_the_audit_log_flushes_open_blocks(db_path):
    with open_sandbox(db_path) as cms, cms.processing("newsletter") as p:
        p.query("SELECT email FROM customers LIMIT 1")
        assert len(cms.audit.entries(action="read")) == 1


def test_the_parts_of_other_modules_are_created_on_first_use(db_path):
    with open_sandbox(db_path) as cms:
        for name, cls in [("consent", "ConsentLedger"), ("retention", "RetentionSchedule"),
                          ("dsr", "DataSubjectRequests"), ("storage", "Storage")]:
            assert name not in vars(cms)
            try:
                part = getattr(cms, name)
            except ImportError:  # the module has not landed yet
                continue
            assert type(part).__name__ == cls and getattr(cms, name) is part


def test_transaction_rolls_back_everything_inside(db_path):
    with open_sandbox(db_path) as cms:
        with pytest.raises(RuntimeError), cms.transaction(), \
                cms.processing("customer_service") as p:
            p.execute("UPDATE customers SET phone = NULL WHERE id = 1", customer_ids=[1])
            raise RuntimeError("something after the update failed")
        with cms.processing("customer_service") as p:
            assert p.query("SELECT phone FROM customers WHERE id = 1")[0]["phone"] is not None


def test_sandbox_is_exported_and_has_a_readable_repr(db_path):
    with Sandbox(db_path, mode="record") as cms:
        assert "record" in repr(cms) and str(db_path) in repr(cms)


def test_every_privacy_command_has_help_and_is_documented():
    from pathlib import Path

    import click

    from sandbox_cms.cli.privacy import COMMANDS

    docs = (Path(__file__).resolve().parent.parent / "docs" / "python-api.md").read_text()
    for command in COMMANDS:
        subcommands = command.commands.values() if isinstance(command, click.Group) else [None]
        for sub in subcommands:
            name = f"sandbox-cms {command.name}" + (f" {sub.name}" if sub else "")
            assert (sub or command).help, name
            assert name in docs or f"sandbox-cms {command.name} " in docs, name


def test_commits_wait_for_the_disk_only_when_asked(db_path):
    with open_sandbox(db_path) as fast, open_sandbox(db_path, durable=True) as durable:
        assert fast.connection.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
        assert durable.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_sandbox_missing_one_table_is_refused_by_name(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TABLE consent_events")
    conn.commit()
    conn.close()
    with pytest.raises(NotASandbox, match=r"not a sandbox database \(no table consent_events\)"):
        open_sandbox(db_path)


def test_a_register_changed_into_non_json_is_written_back_and_flagged(db_path):
    """The stored register is covered by the policy fingerprint: one edited behind the
    CMS's back is not used (the shipped one is written back) and the audit log says so."""
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE purposes SET columns = 'oops' WHERE name = 'newsletter'")
    conn.commit()
    conn.close()
    with open_sandbox(db_path) as cms:
        assert "customers.email" in cms.register.purposes["newsletter"].columns
        assert [e.action for e in cms.audit.entries()][-1] == "register_restored"
        assert cms.audit.verify().ok


def test_a_register_damaged_after_it_was_checked_is_a_clear_error(db_path, monkeypatch):
    from sandbox_cms import cms as cms_module
    from sandbox_cms.core.errors import PolicyError

    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE purposes SET columns = 'oops' WHERE name = 'newsletter'")
    conn.commit()
    conn.close()
    monkeypatch.setattr(cms_module, "stored_fingerprint", lambda conn: "same")
    monkeypatch.setattr(cms_module, "fingerprint", lambda: "same")
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, 'same')",
                         [("policy_fingerprint",), ("policy_stored_fingerprint",)])
    conn.close()
    with pytest.raises(PolicyError, match="purpose 'newsletter' has no readable list of columns"):
        open_sandbox(db_path)


def test_a_fresh_sandbox_in_a_temporary_folder_is_removed_when_python_exits():
    import subprocess
    import sys

    code = ("from sandbox_cms import fresh_sandbox; c = fresh_sandbox(customers=20);"
            "print(c.path); c.close()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out.endswith("webshop.db")
    assert not Path(out).parent.exists()
