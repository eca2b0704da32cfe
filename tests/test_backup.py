"""Backups that restore: checksum manifest, integrity check, atomic replace, refusals."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main
from sandbox_cms.cms import Sandbox, open_sandbox
from sandbox_cms.core.errors import BackupError, LocationError, UnknownCustomer
from sandbox_cms.privacy.backup import (
    BackupManifest,
    manifest_path,
    restore_database,
    sha256_of,
    verify_backup,
)


@contextlib.contextmanager
def _raw(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _customers(path: Path) -> int:
    with _raw(path) as raw:
        return raw.execute("SELECT COUNT(*) FROM customers").fetchone()[0]


def _email(path: Path, customer_id: int) -> str:
    with _raw(path) as raw:
        return raw.execute("SELECT email FROM customers WHERE id = ?",
                           (customer_id,)).fetchone()[0]


def test_backup_writes_a_verified_copy_and_manifest(cms: Sandbox, tmp_path: Path) -> None:
    manifest = cms.storage.backup(tmp_path / "backups", location="backup-frankfurt")
    copy = tmp_path / "backups" / manifest.file
    assert manifest.sha256 == sha256_of(copy) and manifest.size == copy.stat().st_size
    assert (manifest.location, manifest.country, manifest.scenario) == (
        "backup-frankfurt", "DE", "webshop")
    assert manifest.created_at == cms.clock.now().isoformat()
    assert json.loads(manifest_path(copy).read_text())["sha256"] == manifest.sha256
    assert _customers(copy) == _customers(cms.path)
    assert verify_backup(copy) == manifest
    entry = cms.audit.entries(action="backup")[-1]
    assert entry.detail["sha256"] == manifest.sha256
    assert entry.detail["location"] == "backup-frankfurt"
    # A second backup at the same moment gets its own name.
    assert cms.storage.backup(tmp_path / "backups").file != manifest.file


def test_backup_refuses_an_unknown_location(cms: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "backups"
    with pytest.raises(LocationError, match="unknown backup location 'mars'.*backup-zurich"):
        cms.storage.backup(target, location="mars")
    with pytest.raises(LocationError, match="unknown backup location 'mail-service'"):
        cms.storage.backup(target, location="mail-service")  # a processor, not a backup
    assert not target.exists()


def test_restore_brings_back_what_was_lost(cms: Sandbox, tmp_path: Path) -> None:
    manifest = cms.storage.backup(tmp_path)
    email = _email(cms.path, 5)
    with _raw(cms.path) as conn:  # lost by a mistake (not an erasure: that is re-applied)
        conn.execute("DELETE FROM customers WHERE id = 5")
    assert _customers(cms.path) == _customers(tmp_path / manifest.file) - 1
    restored = cms.storage.restore(tmp_path / manifest.file)
    assert BackupManifest(**{k: v for k, v in asdict(restored).items()
                             if k not in ("reerased", "requests")}) == manifest
    assert restored.reerased == ()
    # The same Sandbox object works on the restored database.
    assert cms.dsr.export(email)["customer"]["id"] == 5
    assert cms.audit.entries(action="restore")[-1].detail["file"] == manifest.file
    assert cms.audit.verify().ok


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage_with_matching_manifest",
                                    "missing_manifest", "foreign_manifest", "not_a_sandbox"])
def test_a_damaged_backup_is_refused_and_nothing_is_lost(cms: Sandbox, tmp_path: Path,
                                                         damage: str) -> None:
    manifest = cms.storage.backup(tmp_path)
    backup = tmp_path / manifest.file
    data = bytearray(backup.read_bytes())
    meta = json.loads(manifest_path(backup).read_text())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        backup.write_bytes(bytes(data))
        expected = "damaged or changed"
    elif damage == "truncate":
        backup.write_bytes(bytes(data[: len(data) // 3]))
        expected = "damaged or changed"
    elif damage == "garbage_with_matching_manifest":
        backup.write_bytes(b"x" * 8192)
        meta.update(sha256=hashlib.sha256(b"x" * 8192).hexdigest(), size=8192)
        manifest_path(backup).write_text(json.dumps(meta))
        expected = "not a readable SQLite database"
    elif damage == "missing_manifest":
        manifest_path(backup).unlink()
        expected = "manifest .* is missing"
    elif damage == "foreign_manifest":
        meta["file"] = "other.db"
        manifest_path(backup).write_text(json.dumps(meta))
        expected = "describes other.db"
    else:
        with _raw(backup) as raw:
            raw.execute("DROP TABLE meta")
        meta.update(sha256=sha256_of(backup), size=backup.stat().st_size)
        manifest_path(backup).write_text(json.dumps(meta))
        expected = "not a sandbox database"
    before = sha256_of(cms.path)
    with pytest.raises(BackupError, match=expected):
        cms.storage.restore(backup)
    assert sha256_of(cms.path) == before
    assert cms.consent.may(1, "newsletter") is not None  # the sandbox is still open and usable
    assert [p.name for p in cms.path.parent.iterdir() if ".restoring" in p.name] == []


def test_restore_refuses_while_a_write_is_in_progress(cms: Sandbox, tmp_path: Path) -> None:
    manifest = cms.storage.backup(tmp_path)
    journal = cms.path.with_name(cms.path.name + "-journal")
    journal.write_bytes(b"hot")
    try:
        with pytest.raises(BackupError, match="open in another program"):
            restore_database(tmp_path / manifest.file, cms.path)
    finally:
        journal.unlink()


def test_restore_into_a_new_file(cms: Sandbox, tmp_path: Path) -> None:
    manifest = cms.storage.backup(tmp_path / "b")
    target = tmp_path / "elsewhere" / "restored.db"
    restore_database(tmp_path / "b" / manifest.file, target)
    with open_sandbox(target) as restored:
        assert restored.audit.verify().ok


def test_cli_backup_check_and_restore(db_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["backup", "--db", str(db_path), "--to", str(tmp_path / "b"),
                                  "--location", "backup-zurich"])
    assert result.exit_code == 0, result.output
    backup = next((tmp_path / "b").glob("*.db"))
    result = runner.invoke(main, ["restore", "--db", str(db_path), "--from", str(backup),
                                  "--check"])
    assert result.exit_code == 0 and "intact" in result.output
    email = _email(db_path, 9)
    assert runner.invoke(main, ["dsr", "erase", "--db", str(db_path), "--email",
                                email]).exit_code == 0
    result = runner.invoke(main, ["restore", "--db", str(db_path), "--from", str(backup)])
    assert result.exit_code == 0, result.output
    # The backup predates the erasure: the ledger beside the database erases again.
    assert "re-erased 1 customer(s)" in result.output and "customer ids 9" in result.output
    assert _customers(db_path) == _customers(backup) - 1


def test_cli_restore_from_a_corrupt_backup_is_a_one_line_error(db_path: Path,
                                                               tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["backup", "--db", str(db_path), "--to",
                                str(tmp_path)]).exit_code == 0
    backup = next(tmp_path.glob("*.db"))
    backup.write_bytes(backup.read_bytes()[:4096])
    before = sha256_of(db_path)
    result = runner.invoke(main, ["restore", "--db", str(db_path), "--from", str(backup)])
    assert result.exit_code == 1 and "damaged or changed" in result.output
    assert "Traceback" not in result.output and sha256_of(db_path) == before
    result = runner.invoke(main, ["restore", "--db", str(db_path), "--from",
                                  str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no such backup file" in result.output


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_cli_backup_into_a_folder_that_takes_no_files_is_one_line(db_path: Path) -> None:
    before = sha256_of(db_path)
    result = CliRunner().invoke(main, ["backup", "--db", str(db_path), "--to", "/proc"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: /proc: cannot write a backup there")
    assert isinstance(result.exception, SystemExit) and sha256_of(db_path) == before


def test_a_failed_rename_keeps_the_database_and_the_sandbox_usable(cms: Sandbox, tmp_path: Path,
                                                                  monkeypatch) -> None:
    import sandbox_cms.privacy.backup as backup_module

    manifest = cms.storage.backup(tmp_path / "b")
    email = _email(cms.path, 6)
    cms.dsr.erase(email)
    before = sha256_of(cms.path)

    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup_module.os, "replace", full_disk)
    with pytest.raises(BackupError, match="No space left on device.*not touched"):
        cms.storage.restore(tmp_path / "b" / manifest.file)
    monkeypatch.undo()
    assert sha256_of(cms.path) == before
    # reopened on the file it had: still the erased state, still a working sandbox
    assert not cms.audit.entries(action="restore") and cms.audit.verify().ok
    with pytest.raises(UnknownCustomer):
        cms.dsr.export(email)
    assert not list(cms.path.parent.glob(f".{cms.path.name}.*.restoring"))


def test_reopen_connects_the_same_object_to_the_file_again(cms: Sandbox) -> None:
    old = cms.connection
    mode, path = cms.mode, cms.path
    cms.reopen()
    assert cms.connection is not old and cms.mode == mode and cms.path == path
    with pytest.raises(sqlite3.ProgrammingError):
        old.execute("SELECT 1")
    cms.clock.advance(days=1)  # the clock and audit log use the new connection
    assert cms.audit.entries(action="clock") and cms.audit.verify().ok


def test_cli_restore_over_a_file_that_is_no_sandbox_keeps_a_copy_of_it(db_path: Path,
                                                                       tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["backup", "--db", str(db_path), "--to",
                                str(tmp_path / "b")]).exit_code == 0
    backup = next((tmp_path / "b").glob("*.db"))
    notes = tmp_path / "notes.db"
    notes.write_text("precious notes\n")
    result = runner.invoke(main, ["restore", "--db", str(notes), "--from", str(backup)])
    assert result.exit_code == 0, result.output
    kept = tmp_path / "notes.db.before-restore"
    assert f"kept as {kept}" in result.output and kept.read_text() == "precious notes\n"
    assert _customers(notes) == _customers(db_path)
    # a bad backup is refused before anything is copied or replaced
    other = tmp_path / "other.db"
    other.write_text("more notes\n")
    backup.write_bytes(backup.read_bytes()[:4096])
    result = runner.invoke(main, ["restore", "--db", str(other), "--from", str(backup)])
    assert result.exit_code == 1 and "damaged or changed" in result.output
    assert other.read_text() == "more notes\n"
    assert not (tmp_path / "other.db.before-restore").exists()


def test_backup_into_a_file_is_refused(cms: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    with pytest.raises(BackupError, match="is a file, not a folder"):
        cms.storage.backup(target)
    assert target.read_text() == "keep me\n" and not cms.audit.entries(action="backup")


def test_a_database_the_web_app_served_restores_once_nobody_else_has_it_open(
        db_path: Path, tmp_path: Path) -> None:
    # The web app leaves the file in WAL mode: every open connection then has a -wal file,
    # the restoring CMS's own included. Only another program's connection refuses it.
    with _raw(db_path) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
    with open_sandbox(db_path) as cms:
        manifest = cms.storage.backup(tmp_path / "b")
        other = sqlite3.connect(db_path)  # e.g. the web server, still running
        other.execute("SELECT count(*) FROM products").fetchone()
        try:
            with pytest.raises(BackupError, match="open in another program"):
                cms.storage.restore(tmp_path / "b" / manifest.file)
            assert cms.query("SELECT count(*) AS n FROM products")[0]["n"] > 0  # reopened
        finally:
            other.close()
        assert cms.storage.restore(tmp_path / "b" / manifest.file).file == manifest.file
    result = CliRunner().invoke(main, ["restore", "--db", str(db_path), "--from",
                                       str(tmp_path / "b" / manifest.file)])
    assert result.exit_code == 0, result.output
