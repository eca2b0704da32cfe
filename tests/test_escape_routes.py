"""The sandbox is the only way in, and it knows who is asking.

Every route around the purpose gate that a learner's function could take during
``check(...)`` fails the attempt naming purpose limitation (art. 5(1)(b)); each is also run
with the grader's watch switched off, to show the test would pass the escape without it.
The CLI refuses the CMS's own actors and purposes, the database refuses a clock that moves
back, an edited stored register is not used, and a backup made with `sandbox-cms backup`
during an attempt is not taken for tampering with the audit log.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grading import harness as harness_module
from grading import run
from grading.harness import _REGISTRY, Exercise, Variant, register
from sandbox_cms import open_sandbox
from sandbox_cms.cli import main as sandbox_cli
from sandbox_cms.core import scope

EX = "zz-escape-routes"
SQL = "SELECT id, iban FROM customers WHERE iban IS NOT NULL"


def _counted(attempt):
    from grading.checks import PrincipleViolation

    if not isinstance(attempt.result, int) or attempt.result < 1:
        raise PrincipleViolation("task", f"expected a count, got {attempt.result!r}")


@pytest.fixture
def exercise():
    ex = register(Exercise(
        id=EX, title="count the newsletter's readers", principles=("purpose_limitation",),
        task="count", checks=(_counted,), purpose="newsletter",
        visible=Variant(customers=40), hidden=Variant(customers=40),
    ))
    yield ex
    _REGISTRY.pop(EX, None)


def honest(cms):
    with cms.processing("newsletter") as p:
        return len(p.query("SELECT id, email FROM customers"))


def second_connection(cms):
    conn = sqlite3.connect(cms.path)
    try:
        return len(conn.execute(SQL).fetchall())
    finally:
        conn.close()


def second_connection_read_only_uri(cms):
    conn = sqlite3.connect(f"file:{cms.path}?mode=ro", uri=True)
    try:
        return len(conn.execute(SQL).fetchall())
    finally:
        conn.close()


def the_files_bytes(cms):
    with open(cms.path, "rb") as fh:
        return max(1, fh.read().count(b"NL"))


def the_files_bytes_with_pathlib(cms):
    return max(1, Path(cms.path).read_bytes().count(b"NL"))


def a_copy_of_the_file(cms, tmp=None):
    copy = Path(cms.path).with_name("copy.db")
    shutil.copyfile(cms.path, copy)
    conn = sqlite3.connect(copy)
    try:
        return len(conn.execute(SQL).fetchall())
    finally:
        conn.close()


def the_gate_lifted(cms):
    with cms.gate.lifted():
        return len(cms.connection.execute(SQL).fetchall())


def the_systems_scope(cms):
    with scope.system(cms.connection, write=False):
        return len(cms.connection.execute(SQL).fetchall())


def the_clocks_scope(cms):
    with cms._clock_scope():
        return len(cms.connection.execute(SQL).fetchall())


def authorizer_removed(cms):
    with contextlib.suppress(sqlite3.DatabaseError):
        cms.connection.set_authorizer(None)
    with cms.processing("newsletter") as p:
        return len(p.query("SELECT id FROM customers"))


def authorizer_removed_unbound(cms):
    sqlite3.Connection.set_authorizer(cms.connection, None)
    return len(cms.connection.execute(SQL).fetchall())


def authorizer_removed_and_put_back(cms):
    sqlite3.Connection.set_authorizer(cms.connection, None)
    rows = cms.connection.execute(SQL).fetchall()
    cms.gate._install()
    return len(rows)


def the_backup_api(cms):
    copy = sqlite3.connect(":memory:")
    with contextlib.suppress(sqlite3.DatabaseError):
        cms.connection.backup(copy)
    return 1


def the_backup_api_unbound(cms):
    copy = sqlite3.connect(":memory:")
    sqlite3.Connection.backup(cms.connection, copy)
    return len(copy.execute(SQL).fetchall())


def serialized(cms):
    data = sqlite3.Connection.serialize(cms.connection)
    return max(1, data.count(b"NL"))


def a_blob_read(cms):
    with contextlib.suppress(sqlite3.DatabaseError), \
            cms.connection.blobopen("customers", "iban", 1, readonly=True) as blob:
        blob.read()
    return 1


def a_blob_read_unbound(cms):
    with sqlite3.Connection.blobopen(cms.connection, "customers", "iban", 1) as blob:
        return max(1, len(blob.read()))


def attached_by_name(cms):
    conn = sqlite3.connect(":memory:")
    conn.execute(f"ATTACH DATABASE '{cms.path}' AS shop")
    return len(conn.execute(SQL.replace("customers", "shop.customers")).fetchall())


def attached_by_parameter(cms):
    conn = sqlite3.connect(":memory:")
    conn.execute("ATTACH DATABASE ? AS shop", (str(cms.path),))
    rows = conn.execute(SQL.replace("customers", "shop.customers")).fetchall()
    conn.close()
    return len(rows)


def another_program(cms):
    out = subprocess.run([sys.executable, "-c", "import sqlite3,sys; print(len(sqlite3.connect("
                          f"{str(cms.path)!r}).execute({SQL!r}).fetchall()))"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def a_forked_program(cms):
    """As IPython's `!command` does: fork, then exec in the child."""
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.execv(sys.executable, [sys.executable, "-c", "import sqlite3; sqlite3.connect("
                                      f"{str(cms.path)!r}).execute({SQL!r}).fetchall()"])
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    return honest(cms)


def in_a_thread(cms):
    import threading

    found = []
    worker = threading.Thread(target=lambda: found.append(second_connection(cms)))
    worker.start()
    worker.join()
    return found[0]


def profiler_switched_off(cms):
    sys.setprofile(None)
    return honest(cms)


ESCAPES = [second_connection, second_connection_read_only_uri, the_files_bytes,
           the_files_bytes_with_pathlib, a_copy_of_the_file, a_blob_read, a_blob_read_unbound,
           attached_by_name, attached_by_parameter, the_gate_lifted, the_systems_scope,
           the_clocks_scope, authorizer_removed, authorizer_removed_unbound,
           authorizer_removed_and_put_back, the_backup_api, the_backup_api_unbound, serialized,
           another_program, a_forked_program, in_a_thread, profiler_switched_off]
WATCH_ONLY = {authorizer_removed, the_backup_api, a_blob_read, profiler_switched_off}
"""Escapes that need no watch to fail (the connection refuses them and the learner's code
swallowed the refusal, or they are harmless without the watch): not in the control run."""


def test_an_honest_answer_passes(exercise):
    outcome = run(EX, honest)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("escape", ESCAPES, ids=lambda f: f.__name__)
def test_an_escape_around_the_gate_fails_naming_5_1_b(exercise, escape):
    outcome = run(EX, escape)
    assert not outcome.passed, escape.__name__
    assert outcome.principle == "purpose_limitation", outcome.message
    assert "5(1)(b)" in outcome.message and "went around" in outcome.message, outcome.message


@pytest.mark.parametrize("escape", [e for e in ESCAPES if e not in WATCH_ONLY],
                         ids=lambda f: f.__name__)
def test_without_the_watch_the_escape_would_pass(exercise, escape, monkeypatch):
    @contextlib.contextmanager
    def blind(cms):
        from grading.watch import Watch

        yield Watch(Path(cms.path))

    monkeypatch.setattr(harness_module, "watching", blind)
    outcome = run(EX, escape)
    if escape in (authorizer_removed_unbound,):
        # the record-mode gate is gone, so nothing refuses; only the audit knows nothing
        assert outcome.passed, outcome.message
    else:
        assert outcome.passed, outcome.message


def test_a_documented_backup_during_the_attempt_is_not_taken_for_tampering(exercise):
    """`sandbox-cms backup` writes its audit entry from another process."""
    def backup_with_the_command(cms):
        folder = Path(cms.path).parent / "backups"
        command = Path(sys.executable).with_name("sandbox-cms")
        subprocess.run([str(command), "backup", "--db", str(cms.path), "--to", str(folder)],
                       check=True, capture_output=True)
        return honest(cms)

    outcome = run(EX, backup_with_the_command)
    assert outcome.passed, outcome.message


def test_an_entry_written_by_another_program_is_still_caught(exercise):
    def forge(cms):
        code = ("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO"
                " audit_log (seq, at, actor, purpose, action, table_name, columns, row_ids,"
                " detail, prev_hash, hash) VALUES (999, 'x', 'x', NULL, 'x', NULL, '[]', '[]',"
                " NULL, 'x', 'x')\"); c.commit()")
        subprocess.run([sys.executable, "-c", code, str(cms.path)], check=True)
        return honest(cms)

    outcome = run(EX, forge)
    assert not outcome.passed


# -- the CLI refuses the CMS's own actors and purposes ----------------------------------


@pytest.mark.parametrize(("purpose", "actor"), [
    ("dsr_access", "dsr"), ("newsletter", "dsr"), ("newsletter", "Retention"),
    ("dsr_erasure", "cli"), ("retention_enforcement", "privacy-desk"),
])
def test_the_cli_refuses_internal_actors_and_purposes(db_path, purpose, actor):
    result = CliRunner().invoke(sandbox_cli, [
        "query", "--db", str(db_path), "--purpose", purpose, "--actor", actor,
        "SELECT id, iban FROM customers LIMIT 3"])
    assert result.exit_code != 0
    assert "NL" not in result.output and "5(1)(b)" in result.output


def test_the_cli_still_answers_a_declared_purpose(db_path):
    result = CliRunner().invoke(sandbox_cli, [
        "query", "--db", str(db_path), "--purpose", "newsletter",
        "SELECT id, email FROM customers LIMIT 2"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 2


# -- the clock only moves forward, in the database itself --------------------------------


@pytest.mark.parametrize("sql", [
    "UPDATE meta SET value = '2001-01-01T00:00:00' WHERE key = 'clock_now'",
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_now', '2001-01-01T00:00:00')",
    "DELETE FROM meta WHERE key = 'clock_now'",
    "UPDATE meta SET key = 'old_clock' WHERE key = 'clock_now'",
    "UPDATE meta SET value = 'yesterday' WHERE key = 'clock_now'",
])
def test_a_raw_statement_cannot_move_the_clock_back(db_path, sql):
    conn = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="only moves forward"):
            conn.execute(sql)
    finally:
        conn.close()


def test_the_clock_still_moves_forward(db_path):
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE meta SET value = '2099-01-01T00:00:00' WHERE key = 'clock_now'")
    conn.close()
    with open_sandbox(db_path) as cms:
        assert cms.clock.now().year == 2099
        cms.clock.advance(days=1)


def test_an_old_sandbox_gets_the_clock_triggers_when_opened(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER clock_only_forward")
    conn.close()
    open_sandbox(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE meta SET value = '2001-01-01T00:00:00' WHERE key = 'clock_now'")
    finally:
        conn.close()


def _turn_back(cms):
    n = honest(cms)
    conn = sqlite3.connect(cms.path)
    with conn:
        conn.execute("DROP TRIGGER clock_only_forward")
        conn.execute("UPDATE meta SET value = '2001-01-01T00:00:00' WHERE key = 'clock_now'")
    conn.close()
    return n


def test_the_grader_notices_a_clock_turned_back(exercise, monkeypatch):
    outcome = run(EX, _turn_back)
    assert not outcome.passed and "5(1)(b)" in outcome.message  # the second connection

    @contextlib.contextmanager
    def blind(cms):
        from grading.watch import Watch

        yield Watch(Path(cms.path))

    monkeypatch.setattr(harness_module, "watching", blind)
    outcome = run(EX, _turn_back)  # without the watch, its own record of the clock tells
    assert not outcome.passed
    assert outcome.principle == "accountability" and "clock" in outcome.message, outcome.message


# -- the stored register is covered by the policy fingerprint ------------------------------


def test_an_edited_stored_register_is_not_used(db_path):
    conn = sqlite3.connect(db_path)
    with conn:
        columns = json.loads(conn.execute(
            "SELECT columns FROM purposes WHERE name = 'newsletter'").fetchone()[0])
        conn.execute("UPDATE purposes SET columns = ? WHERE name = 'newsletter'",
                     (json.dumps([*columns, "customers.iban"]),))
    conn.close()
    with open_sandbox(db_path) as cms:
        assert "customers.iban" not in cms.register.purposes["newsletter"].columns
        flagged = cms.audit.entries(action="register_restored")
        assert flagged and flagged[-1].detail["article"] == "30; 5(2)"
        with pytest.raises(sqlite3.DatabaseError), cms.processing("newsletter") as p:
            p.query("SELECT iban FROM customers LIMIT 1")


@pytest.mark.parametrize(("command", "allowed"), [
    (["sandbox-cms", "backup", "--db", "s.db", "--to", "b"], True),
    ("sandbox-cms query --db s.db --purpose newsletter 'SELECT COUNT(*) FROM customers; x'",
     True),
    (["/bin/sh", "-c", "sandbox-cms audit verify --db s.db"], True),
    ("sandbox-cms backup --db s.db --to b; cat s.db", False),
    ("sandbox-cms query --db s.db \"$(cat s.db)\"", False),
    ("sandbox-cms backup --db s.db --to b > out", False),
    (["sandbox-cms", "scan", "s.db"], False),
    (["sqlite3", "s.db", "SELECT iban FROM customers"], False),
])
def test_only_the_sandbox_cms_command_may_run(command, allowed):
    from grading.watch import _allowed_program

    assert _allowed_program(command) is allowed


def test_the_command_through_a_shell_as_a_notebook_runs_it_passes(exercise):
    def query_with_the_command(cms):
        command = Path(sys.executable).with_name("sandbox-cms")
        subprocess.run(f"{command} query --db {cms.path} --purpose newsletter"
                       " 'SELECT COUNT(*) AS n FROM customers'", shell=True, check=True,
                       capture_output=True)
        return honest(cms)

    outcome = run(EX, query_with_the_command)
    assert outcome.passed, outcome.message


def _restore_in_place(cms):
    folder = Path(cms.path).parent / "backups"
    manifest = cms.storage.backup(folder)
    cms.storage.restore(folder / manifest.file)  # closes and reopens the CMS's connection


def test_a_restore_in_place_is_not_taken_for_an_escape(exercise):
    def restore_then_count(cms):
        _restore_in_place(cms)
        return honest(cms)

    outcome = run(EX, restore_then_count)
    assert outcome.passed, outcome.message


def test_the_watch_follows_the_reconnect_of_a_restore(exercise):
    def restore_then_lift(cms):
        _restore_in_place(cms)
        return the_gate_lifted(cms)

    outcome = run(EX, restore_then_lift)
    assert not outcome.passed and "went around" in outcome.message, outcome.message


def test_a_second_sandbox_on_the_same_file_is_watched_too(exercise):
    def second_sandbox(cms):
        other = open_sandbox(cms.path, mode="record")
        try:
            with other.gate.lifted():
                return len(other.connection.execute(SQL).fetchall())
        finally:
            other.close()

    outcome = run(EX, second_sandbox)
    assert not outcome.passed and "went around" in outcome.message, outcome.message


def test_attaching_a_file_of_ones_own_is_fine(exercise):
    def with_a_scratch_database(cms):
        scratch = Path(cms.path).with_name("scratch.db")
        conn = sqlite3.connect(":memory:")
        conn.execute(f"ATTACH DATABASE '{scratch}' AS mine")
        conn.execute("CREATE TABLE mine.t (x)")
        conn.close()
        return honest(cms)

    outcome = run(EX, with_a_scratch_database)
    assert outcome.passed, outcome.message


def test_running_a_data_subject_mechanism_the_task_did_not_ask_for_fails(exercise):
    def erase_someone_else(cms):
        n = honest(cms)
        with cms.processing("newsletter") as p:
            email = p.query("SELECT email FROM customers ORDER BY id DESC LIMIT 1")[0]["email"]
        cms.dsr.erase(email)
        return n

    outcome = run(EX, erase_someone_else)
    assert not outcome.passed and outcome.principle == "purpose_limitation", outcome.message
    assert "dsr_erasure" in outcome.message
