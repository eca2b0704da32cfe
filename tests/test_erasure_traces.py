"""An erasure leaves no copy behind: not in the database file, its WAL or journal, the files of
a running or stopped web server, backups made afterwards, nor after restoring a backup made
before it (the erasure ledger re-applies it).

Each test reads the raw bytes of every file in the sandbox's folder (and the backup folder)
and looks for every value of an erased customer that no retained record still holds: e-mail,
phone, IBAN, birth date, and name and street unless an invoice under the tax duty bills them.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms import open_sandbox
from sandbox_cms.cli import main as cli_main
from sandbox_cms.data.build import fresh_copy
from sandbox_cms.privacy.erasure import ledger_path, read_ledger

ALWAYS_CHECKED = ("email", "phone", "iban")
VALUE_COLUMNS = ("email", "phone", "iban", "birth_date", "first_name", "last_name", "street")


def _targets(db: Path, count: int) -> list[dict]:
    """``count`` customers to erase: the first has an invoice the tax duty still keeps (its
    billing name and street stay), the others have none."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        kept = conn.execute(
            "SELECT c.* FROM customers c JOIN invoices i ON i.customer_id = c.id "
            "WHERE c.phone IS NOT NULL AND c.iban IS NOT NULL "
            "ORDER BY i.issued_at DESC LIMIT 1").fetchone()
        others = conn.execute(
            "SELECT * FROM customers WHERE id NOT IN (SELECT customer_id FROM invoices "
            "WHERE customer_id IS NOT NULL) AND phone IS NOT NULL AND iban IS NOT NULL "
            "AND birth_date IS NOT NULL ORDER BY id LIMIT ?", (count - 1,)).fetchall()
    finally:
        conn.close()
    assert kept is not None and len(others) == count - 1
    return [dict(row) for row in (kept, *others)]


def _still_held(db: Path) -> str:
    """Every value the database still holds on purpose, as one text (for substring tests)."""
    conn = sqlite3.connect(db)
    try:
        tables = [t for (t,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        parts = []
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                parts += [str(v) for v in row if v is not None]
    finally:
        conn.close()
    return "\n".join(parts)


def _erased_values(db: Path, targets: list[dict]) -> list[str]:
    """The values of the erased customers that no retained record keeps."""
    held = _still_held(db)
    values = []
    for customer in targets:
        for column in VALUE_COLUMNS:
            value = customer.get(column)
            if not value:
                continue
            if column in ALWAYS_CHECKED:
                assert str(value) not in held, f"{column} of an erased customer is still held"
            if str(value) not in held:
                values.append(str(value))
    assert len(values) >= len(ALWAYS_CHECKED) * len(targets)
    return values


def _traces(folders: list[Path], values: list[str], skip: tuple[Path, ...] = ()) -> list[str]:
    """'file: value' for every value found in the raw bytes of any file under ``folders``."""
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path in skip:
                continue
            data = path.read_bytes()
            found += [f"{path.name}: {value}" for value in values
                      if value.encode() in data]
    return found


def _sandbox(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    return fresh_copy(folder / "sandbox.db")


# -- in process: database file, backups, restore --------------------------------------------


def test_erasure_leaves_no_bytes_in_the_file_or_later_backups(tmp_path: Path) -> None:
    db = _sandbox(tmp_path)
    targets = _targets(db, 3)
    backups = tmp_path / "backups"
    with open_sandbox(db) as cms:
        cms.storage.backup(backups)  # before: holds them, as a backup must
        before = set(backups.iterdir())
        for customer in targets:
            cms.dsr.erase(customer["email"])
        cms.storage.backup(backups)
    values = _erased_values(db, targets)
    assert _traces([db.parent, backups], values, skip=tuple(before)) == []
    ledger = read_ledger(db)
    assert [e.customer_id for e in ledger] == [c["id"] for c in targets]
    text = ledger_path(db).read_text()
    assert all(c["email"] not in text and c["last_name"] not in text for c in targets)


def test_restoring_a_backup_made_before_an_erasure_erases_again_and_says_so(
        tmp_path: Path) -> None:
    db = _sandbox(tmp_path)
    targets = _targets(db, 2)
    backups = tmp_path / "backups"
    with open_sandbox(db) as cms:
        token = cms.dsr.request("erase", targets[1]["email"])  # pending when backed up
        old = cms.storage.backup(backups)
        request_id = cms.dsr.confirm(token)
        cms.dsr.carry_out(request_id)
        cms.dsr.erase(targets[0]["email"])
        values = _erased_values(db, targets)
        restored = cms.storage.restore(backups / old.file)
        assert sorted(restored.reerased) == sorted(c["id"] for c in targets)
        assert request_id in restored.requests
        # The record of the request is back, completed, pointing at nobody.
        request = cms.dsr.get(request_id)
        assert request.status == "completed" and request.customer_id is None
        kinds = [r.kind for r in cms.dsr.requests() if r.status == "completed"]
        assert kinds.count("erase") == 2
        ids = [c["id"] for c in targets]
        with cms._internal("dsr_erasure", "test") as p:
            assert p.query(f"SELECT id FROM customers WHERE id IN ({ids[0]}, {ids[1]})") == []
        assert "erase_reapplied" in [e.action for e in cms.audit.entries()]
    assert _traces([db.parent], values) == []
    # A second restore of the same backup does it again; a restore of a later one finds
    # nobody to erase again.
    with open_sandbox(db) as cms:
        later = cms.storage.backup(backups)
        assert cms.storage.restore(backups / later.file).reerased == ()


def test_the_ledger_never_erases_a_later_customer_who_got_the_same_id(tmp_path: Path) -> None:
    db = _sandbox(tmp_path)
    with open_sandbox(db) as cms, cms._internal("dsr_erasure", "test") as p:
        newest = p.query("SELECT id, email FROM customers ORDER BY id DESC LIMIT 1")[0]
    backups = tmp_path / "backups"
    with open_sandbox(db) as cms:
        cms.dsr.erase(newest["email"])
    conn = sqlite3.connect(db)  # a new customer gets the freed id (no AUTOINCREMENT)
    with conn:
        conn.execute(
            "INSERT INTO customers (id, first_name, last_name, email, created_at, "
            "provenance_id) VALUES (?, 'Later', 'Person', 'later@example.test', "
            "'2099-01-01T00:00:00', 1)", (newest["id"],))
    conn.close()
    with open_sandbox(db) as cms:
        made = cms.storage.backup(backups)
        assert cms.storage.restore(backups / made.file).reerased == ()
        assert cms.query("SELECT count(*) AS n FROM products")[0]["n"] > 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT email FROM customers WHERE id = ?",
                        (newest["id"],)).fetchone() == ("later@example.test",)
    conn.close()


def test_cli_restore_reports_what_it_erased_again(tmp_path: Path) -> None:
    db = _sandbox(tmp_path)
    targets = _targets(db, 2)
    backups = tmp_path / "backups"
    runner = CliRunner()
    result = runner.invoke(cli_main, ["backup", "--db", str(db), "--to", str(backups)])
    assert result.exit_code == 0, result.output
    for customer in targets:
        result = runner.invoke(cli_main, ["dsr", "erase", "--db", str(db),
                                          "--email", customer["email"]])
        assert result.exit_code == 0, result.output
    values = _erased_values(db, targets)
    backup = next(p for p in backups.iterdir() if p.suffix == ".db")
    result = runner.invoke(cli_main, ["restore", "--db", str(db), "--from", str(backup)])
    assert result.exit_code == 0, result.output
    assert "re-erased 2 customer(s)" in result.output
    assert all(str(c["id"]) in result.output for c in targets)
    assert _traces([db.parent], values) == []


# -- a real `sandbox-cms serve` under load -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Browser:
    """A cookie-keeping client for the loopback server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def post(self, path: str, form_page: str, fields: dict | list) -> tuple[int, str]:
        _, page = self.get(form_page)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        data = urllib.parse.urlencode([("csrf_token", token), *items]).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")


def _serve(db: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    exe = Path(sys.executable).with_name("sandbox-cms")
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [str(exe), "serve", "--db", str(db), "--port", str(port), "--threads", "4"],
            stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        except OSError:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    return server, base


def _erase_through_the_site(browser: _Browser, email: str) -> None:
    status, _ = browser.post("/my-data", "/my-data", {"email": email, "kind": "erase"})
    assert status == 200
    _, outbox = browser.get("/outbox")
    token = re.search(r"/my-data/confirm/([A-Za-z0-9_-]{8,64})", outbox).group(1)
    status, page = browser.post(f"/my-data/confirm/{token}", f"/my-data/confirm/{token}", {})
    assert status == 200, page[:500]


def _load(base: str, stop: threading.Event, budget: int) -> None:
    """Bounded background load: list and search pages, and checkouts of new customers."""
    browser = _Browser(base)
    for n in range(budget):
        if stop.is_set():
            return
        try:
            if n % 5 == 4:
                browser.post("/shop", "/shop", [
                    ("first_name", "Load"), ("last_name", f"Tester{n}"),
                    ("email", f"load{n}-{os.getpid()}@example.test"), ("street", "Teststraat"),
                    ("house_number", str(n + 1)), ("postcode", "1234 AB"),
                    ("city", "Utrecht"), ("product", _SKU[0]), ("quantity", "1")])
            else:
                browser.get(("/customers?page=2", "/orders", "/invoices", "/audit")[n % 4])
        except OSError:
            return  # the server is stopping


_SKU: list[str] = []


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_running_server_stopped_under_load_leaves_no_trace(tmp_path: Path,
                                                             signum: signal.Signals) -> None:
    db = _sandbox(tmp_path)
    targets = _targets(db, 4)
    conn = sqlite3.connect(db)
    _SKU[:] = [conn.execute("SELECT sku FROM products ORDER BY id LIMIT 1").fetchone()[0]]
    conn.close()
    log = tmp_path / "serve.log"
    server, base = _serve(db, log)
    stop = threading.Event()
    loaders = [threading.Thread(target=_load, args=(base, stop, 60)) for _ in range(2)]
    try:
        browser = _Browser(base)
        for customer in targets:  # their pages are read first, so they pass through the WAL
            browser.get(f"/customers/{customer['id']}")
        for loader in loaders:
            loader.start()
        for customer in targets:
            _erase_through_the_site(browser, customer["email"])
        values = _erased_values(db, targets)
        # While it runs: the database, its -wal and -shm hold none of it.
        assert _traces([db.parent], values, skip=(log,)) == []
        time.sleep(0.3)
        server.send_signal(signum)  # while the load is still running
        assert server.wait(timeout=30) == 0, log.read_text()
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait()
        for loader in loaders:
            if loader.is_alive():
                loader.join(timeout=30)
    leftovers = sorted(p.name for p in db.parent.iterdir() if p.name.endswith(("-wal", "-shm")))
    assert leftovers == []
    assert _traces([db.parent], values, skip=(log,)) == []


@pytest.mark.slow
def test_a_crashed_server_leaves_no_trace_once_recovered(tmp_path: Path) -> None:
    db = _sandbox(tmp_path)
    targets = _targets(db, 2)
    log = tmp_path / "serve.log"
    server, base = _serve(db, log)
    try:
        browser = _Browser(base)
        for customer in targets:
            _erase_through_the_site(browser, customer["email"])
        values = _erased_values(db, targets)
        server.kill()  # SIGKILL: no clean-up at all
        server.wait(timeout=30)
        assert _traces([db.parent], values, skip=(log,)) == []
        # The next start recovers the WAL into the database; a SIGTERM stops it cleanly.
        server, base = _serve(db, log)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert not any(p.name.endswith("-wal") for p in db.parent.iterdir())
    assert _traces([db.parent], values, skip=(log,)) == []
