"""The sandbox behind the web app: one open :class:`~sandbox_cms.cms.Sandbox` per worker thread.

Opening a sandbox loads the register and compiles the purpose rules, and closing the last
connection of a WAL database checkpoints it: both cost more than a page. So each server
thread keeps its sandbox open between requests. After every request anything left half done
is rolled back, so no state leaks from one request to the next. The register is read once per
thread: restart the server after changing it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterator

from flask import Flask, current_app, g

from sandbox_cms.cms import Sandbox, open_sandbox
from sandbox_cms.privacy.audit import Checkpoint, Verification

EXTENSION = "sandbox_cms"
ACTOR = "web"  # who the audit log names for accesses made through the back office


class _State:
    """Per app: each thread's open sandbox, and the lock that serialises database work."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.lock = threading.Lock()
        self.opened: list[Sandbox] = []  # every thread's, so a stop can close them all
        # The last audit entry found intact, per database file (device and inode: a restore
        # renames another file into place, which starts over with a full check).
        self.checkpoints: dict[tuple[int, int], Checkpoint] = {}
        self.checkpoints_lock = threading.Lock()


def cms() -> Sandbox:
    """The sandbox of this request (this thread's, opened on first use)."""
    if "cms" in g:
        return g.cms
    state: _State = current_app.extensions[EXTENSION]
    # Every page that reads personal data also appends to the audit log (a write). One
    # request at a time does its database work: threads queue on this lock instead of
    # colliding on SQLite's write lock and sleeping in its busy handler.
    state.lock.acquire()
    try:
        sandbox = getattr(state.local, "sandbox", None)
        if sandbox is None:
            sandbox = open_sandbox(current_app.config["SANDBOX_DB"])
            # WAL without a sync per commit: every page appends to the audit log, and a
            # training sandbox can lose its last second in a power cut, not its integrity.
            sandbox.connection.execute("PRAGMA synchronous = NORMAL")
            state.local.sandbox = sandbox
            state.opened.append(sandbox)
    except BaseException:
        state.lock.release()
        g.cms_failed = True
        raise
    g.cms_lock, g.cms = state.lock, sandbox
    return sandbox


@contextlib.contextmanager
def unlocked() -> Iterator[None]:
    """Let other requests do their database work while this one runs a long read.

    For a read that takes a while (the dashboard's retention summary) on this thread's own
    sandbox: its connection is this thread's alone, WAL lets readers and a writer run side by
    side, and the few writes inside (audit entries) are ``BEGIN IMMEDIATE`` transactions that
    SQLite's busy timeout orders. Inside an open transaction the lock is kept.
    """
    lock = g.get("cms_lock")
    sandbox = g.get("cms")
    if lock is None or sandbox is None or sandbox.connection.in_transaction:
        yield
        return
    lock.release()
    try:
        yield
    finally:
        lock.acquire()


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: every read inside sees the same state of the database, however
    other connections write meanwhile (WAL)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # nothing was written: a read transaction only ends


def verify_audit(sandbox: Sandbox, *, full: bool = False) -> Verification:
    """The audit chain's status for a page, in one read snapshot.

    The dashboard (``full=False``) walks only the entries after the last one this server
    found intact in the same database file, from that entry's hash; the audit page
    (``full=True``) walks the whole chain every time. Either way an intact chain becomes the
    new checkpoint and a broken one drops it, so the next check is a full one again.
    """
    state: _State = current_app.extensions[EXTENSION]
    try:
        stat = os.stat(sandbox.path)
        key: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
    except OSError:
        key = None
    with state.checkpoints_lock:
        since = None if full or key is None else state.checkpoints.get(key)
    sandbox.flush()  # pending entries are written first, not inside the read snapshot
    with snapshot(sandbox.connection):
        verification = sandbox.audit.verify(since=since)
    if key is not None:
        with state.checkpoints_lock:
            if verification.ok and verification.checkpoint is not None:
                state.checkpoints[key] = verification.checkpoint
            else:
                state.checkpoints.pop(key, None)
    return verification


def sandbox_now() -> dt.datetime | None:
    """The sandbox clock for the page header; None if the database cannot be read."""
    if g.get("cms_failed"):
        return None
    try:
        return cms().clock.now()
    except Exception:  # the header must never turn a page into an error
        return None


def use_wal(path: str) -> None:
    """Switch the database to write-ahead logging (readers and the audit writer coexist).

    A ``-wal`` left by a server that crashed is first recovered into the database and
    emptied, so no page image from before an erasure outlives the crash."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def close_all(app: Flask, timeout: float = 10.0) -> None:
    """Close every thread's sandbox (when the server stops, however it was stopped).

    Waits for the request doing database work to finish, then closes each connection; the
    close of the last one checkpoints the write-ahead log into the database and removes the
    ``-wal`` and ``-shm`` files, so nothing erased stays behind in them."""
    state: _State | None = app.extensions.get(EXTENSION)
    if state is None:
        return
    locked = state.lock.acquire(timeout=timeout)
    try:
        while state.opened:
            sandbox = state.opened.pop()
            with contextlib.suppress(Exception):
                if sandbox.connection.in_transaction:
                    sandbox.connection.rollback()
            with contextlib.suppress(Exception):
                sandbox.close()
    finally:
        if locked:
            state.lock.release()


def _end_request(_exc: BaseException | None) -> None:
    sandbox = g.pop("cms", None)
    lock = g.pop("cms_lock", None)
    try:
        if sandbox is not None:
            sandbox.flush()
    finally:
        if sandbox is not None and sandbox.connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                sandbox.connection.rollback()
        if lock is not None:
            lock.release()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = _State()
    if app.config.get("SANDBOX_WAL", True):
        use_wal(app.config["SANDBOX_DB"])
    app.teardown_appcontext(_end_request)
    app.jinja_env.globals["sandbox_now"] = sandbox_now
