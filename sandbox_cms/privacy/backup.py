"""Backups of a sandbox that you can really restore from (art. 32(1)(c): the ability to restore).

``backup_database`` copies the database with SQLite's online backup API (a consistent copy
even while the sandbox is open), checks the copy, and writes a manifest next to it with the
SHA-256 of the file. ``restore_database`` refuses a backup whose checksum does not match its
manifest or that fails ``PRAGMA integrity_check``; only a verified copy replaces the
database, in one atomic rename, so a bad backup never costs the current data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sandbox_cms.core.errors import BackupError

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class BackupManifest:
    """What a backup is: its file, checksum and origin (no personal data)."""

    file: str
    sha256: str
    size: int
    created_at: str
    location: str | None
    country: str | None
    scenario: str | None
    schema_version: str | None
    format: int = MANIFEST_FORMAT


@dataclass(frozen=True)
class RestoredBackup(BackupManifest):
    """The manifest of a restored backup, with the customers the erasure ledger erased again
    in it (ids only): a backup made before an erasure must not bring the person back."""

    reerased: tuple[int, ...] = ()
    requests: tuple[int, ...] = ()


def manifest_path(backup_file: str | Path) -> Path:
    """The manifest that belongs to a backup file."""
    backup_file = Path(backup_file)
    return backup_file.with_name(backup_file.name + MANIFEST_SUFFIX)


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup_database(
    db_path: str | Path,
    dest_dir: str | Path,
    *,
    created_at: str,
    location: str | None = None,
    country: str | None = None,
) -> BackupManifest:
    """Copy the sandbox at ``db_path`` into ``dest_dir``; return the manifest written beside it."""
    source = Path(db_path)
    if not source.is_file():
        raise BackupError(f"{source}: no such database")
    dest = Path(dest_dir)
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{dest}: is a file, not a folder; give the folder to back up into")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"{dest}: cannot create the backup folder ({exc.strerror})") from None
    stamp = created_at.replace("-", "").replace(":", "")
    name = f"{source.stem}-{stamp}" + (f"-{location}" if location else "")
    target = _free_name(dest, name, ".db")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=dest)
    except OSError as exc:
        raise BackupError(f"{dest}: cannot write a backup there ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            meta = _meta(dst)
            _check_integrity(dst, target)
        except sqlite3.Error as exc:
            raise BackupError(f"{source}: could not copy it into {dest} ({exc})") from None
        finally:
            dst.close()
            src.close()
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    manifest = BackupManifest(
        file=target.name,
        sha256=sha256_of(target),
        size=target.stat().st_size,
        created_at=created_at,
        location=location,
        country=country,
        scenario=meta.get("scenario"),
        schema_version=meta.get("schema_version"),
    )
    _write_json(manifest_path(target), asdict(manifest))
    return manifest


def verify_backup(backup_file: str | Path) -> BackupManifest:
    """Check a backup against its manifest and SQLite's integrity check; return the manifest."""
    backup = Path(backup_file)
    manifest = _read_manifest(backup)
    _verify_copy(backup, manifest, backup)
    return manifest


def restore_database(
    backup_file: str | Path,
    db_path: str | Path,
    before_replace: Callable[[], None] | None = None,
) -> BackupManifest:
    """Replace the database at ``db_path`` with a verified backup, atomically.

    The database must not be in the middle of a write (a leftover ``-journal`` or ``-wal``
    file is refused). On any failure the current database is left exactly as it was.
    ``before_replace`` runs once the copy is verified, just before the rename (e.g. to close
    the connection that has the database open).
    """
    backup = Path(backup_file)
    target = Path(db_path)
    manifest = _read_manifest(backup)
    if before_replace is None:
        _refuse_if_in_use(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".restoring",
                                        dir=target.parent)
    except OSError as exc:
        raise BackupError(f"{target.parent}: cannot restore into it ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with backup.open("rb") as src, tmp.open("wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
        _verify_copy(tmp, manifest, backup)  # verify the bytes that will become the database
        if before_replace is not None:
            before_replace()
            # Checked once the caller's own connection is closed: a database in WAL mode
            # (one the web app served) has a -wal file while any connection is open.
            _refuse_if_in_use(target)
        os.replace(tmp, target)
    except OSError as exc:  # e.g. a full disk: the rename never happened
        raise BackupError(
            f"{target}: restoring failed ({exc.strerror}); the current database was not touched"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return manifest


def _refuse_if_in_use(target: Path) -> None:
    for suffix in ("-journal", "-wal"):
        if target.with_name(target.name + suffix).exists():
            raise BackupError(
                f"{target} is open in another program or in the middle of a write "
                f"({target.name}{suffix} exists); close every program that uses it (the web "
                "app, notebooks), then restore"
            )


def keep_aside(path: str | Path) -> Path | None:
    """Copy a non-empty file that a restore is about to replace to ``<name>.before-restore``
    (or ``-2``, ``-3``, ...) beside it; return the copy, or None when there was nothing.

    For a database that is not a sandbox (damaged, or another file given by mistake): a
    restore over it should not be the end of it.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    kept = _free_name(path.parent, path.name, ".before-restore")
    try:
        shutil.copy2(path, kept)
    except OSError as exc:
        raise BackupError(
            f"{path}: cannot keep a copy of it before restoring ({exc.strerror}); nothing "
            "was changed"
        ) from None
    return kept


def _read_manifest(backup: Path) -> BackupManifest:
    if not backup.is_file():
        raise BackupError(f"{backup}: no such backup file")
    path = manifest_path(backup)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = BackupManifest(**data)
    except FileNotFoundError:
        raise BackupError(
            f"{backup}: its manifest {path.name} is missing, so the backup cannot be verified"
        ) from None
    except (ValueError, TypeError) as exc:
        raise BackupError(f"{path}: not a valid backup manifest ({exc})") from None
    if manifest.file != backup.name:
        raise BackupError(f"{path}: the manifest describes {manifest.file}, not {backup.name}")
    return manifest


def _verify_copy(copy: Path, manifest: BackupManifest, shown_as: Path) -> None:
    size = copy.stat().st_size
    if size != manifest.size or sha256_of(copy) != manifest.sha256:
        raise BackupError(
            f"{shown_as}: damaged or changed since it was made (size {size} bytes, manifest says "
            f"{manifest.size}; the SHA-256 does not match): the current database was not touched"
        )
    conn = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
    try:
        _check_integrity(conn, shown_as)
        if "schema_version" not in _meta(conn):
            raise BackupError(f"{shown_as}: not a sandbox database (no schema_version in meta)")
    finally:
        conn.close()


def _check_integrity(conn: sqlite3.Connection, shown_as: Path) -> None:
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{shown_as}: not a readable SQLite database ({exc})") from None
    if result != ["ok"]:
        raise BackupError(f"{shown_as}: fails SQLite's integrity check ({result[0]})")


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError:
        return {}


def _free_name(folder: Path, stem: str, suffix: str) -> Path:
    candidate = folder / f"{stem}{suffix}"
    counter = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{counter}{suffix}"
        counter += 1
    return candidate


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
