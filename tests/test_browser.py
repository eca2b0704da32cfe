"""The sandbox CMS in a real browser: Debian's Chromium driven by Playwright.

The server is the real ``sandbox-cms serve`` (waitress) on 127.0.0.1 and a free port. The
browser is /usr/bin/chromium, installed by ``scripts/ensure-chromium.sh`` (``make test`` runs
it); no browser is downloaded here. Without Chromium these tests fail in CI (``CI=true``)
and are skipped elsewhere. With UPDATE_SCREENSHOTS=1 they refresh the README's screenshots
in docs/screenshots/.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_cms.cms import open_sandbox
from sandbox_cms.data.build import fresh_copy

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# The README's screenshots are refreshed with UPDATE_SCREENSHOTS=1; otherwise the tests
# still take them, into a temporary folder, so a test run leaves the work tree clean.
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "sandbox-cms-screenshots"
)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (f"{CHROMIUM} is missing: run `bash scripts/ensure-chromium.sh` (make test does) "
               "to install Debian's chromium")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The real server on a fresh webshop sandbox: (base URL, database path)."""
    folder = tmp_path_factory.mktemp("browser")
    db = fresh_copy(folder / "sandbox.db")
    port = _free_port()
    script = Path(sys.executable).with_name("sandbox-cms")
    log = folder / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen([str(script), "serve", "--db", str(db), "--port", str(port)],
                                  stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"sandbox-cms serve did not start: {log.read_text()}") from None
            time.sleep(0.1)
    yield base, db
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def _rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_checkout_boxes_start_unticked_and_one_tick_records_that_purpose(site, page):
    base, db = site
    page.goto(f"{base}/shop")
    boxes = page.locator("input[type=checkbox][name=consent]")
    assert boxes.count() >= 1
    for i in range(boxes.count()):
        assert not boxes.nth(i).is_checked()
    page.select_option("#product", "TR-244")
    for field, value in {
        "#first_name": "Bram", "#last_name": "Browsertest", "#email": "bram.browser@example.com",
        "#street": "Klikstraat", "#house_number": "7", "#postcode": "4321 ZX", "#city": "Proefstad",
    }.items():
        page.fill(field, value)
    question = page.locator(".consent[data-purpose=newsletter]")
    shown_version = question.get_attribute("data-text-version")
    question.locator("input[type=checkbox]").check()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "checkout.png"), full_page=True)
    page.click("button[type=submit]")
    receipt = page.locator("#receipt")
    receipt.wait_for()
    customer_id = int(receipt.get_attribute("data-customer-id"))

    events = _rows(db, "SELECT purpose, event, text_version, method, channel FROM consent_events "
                       "WHERE customer_id = ?", (customer_id,))
    assert events == [("newsletter", "granted", shown_version, "separate_checkbox", "checkout")]
    with open_sandbox(db) as cms:
        assert cms.consent.may(customer_id, "newsletter").allowed
    invoices = _rows(db, "SELECT count(*) FROM invoices WHERE customer_id = ?", (customer_id,))
    assert invoices == [(1,)]

    # Withdrawing is as easy as giving (art. 7(3)): one ticked box on "my data".
    page.goto(f"{base}/my-data")
    assert not page.is_checked("#withdraw-newsletter")
    page.fill("#withdraw-email", "bram.browser@example.com")
    page.check("#withdraw-newsletter")
    page.click("#withdraw-submit")
    page.locator("#withdrawn").wait_for()
    page.goto(f"{base}/customers/{customer_id}/consents")
    assert page.locator("tr[data-purpose=newsletter]").inner_text().split("\t")[1] == "no"
    assert "withdrawn" in page.locator("table.events tr").last.inner_text()
    with open_sandbox(db) as cms:
        assert not cms.consent.may(customer_id, "newsletter").allowed
        last = cms.consent.events(customer_id, "newsletter")[-1]
    assert (last.event, last.text_version, last.channel) == ("withdrawn", shown_version, "my_data")


def test_erasure_goes_through_confirmation_and_keeps_the_invoice(site, page):
    base, db = site
    customer_id, email, number = _rows(
        db, "SELECT c.id, c.email, i.number FROM customers c JOIN invoices i "
            "ON i.customer_id = c.id ORDER BY c.id LIMIT 1 OFFSET 20")[0]
    page.goto(f"{base}/customers?q={email}")
    assert page.locator(f"tr[data-customer-id='{customer_id}']").count() == 1

    page.goto(f"{base}/my-data")
    page.fill("#email", email)
    page.check("input[name=kind][value=erase]")
    page.click("button[type=submit]")
    page.locator("#request-sent").wait_for()
    assert _rows(db, "SELECT count(*) FROM customers WHERE id = ?", (customer_id,)) == [(1,)]

    page.goto(f"{base}/outbox")
    mail = page.locator("article.mail").first
    assert email in mail.inner_text()
    mail.locator("a.confirm-link").click()
    page.click("#confirm")
    page.locator("#request-done").wait_for()
    assert "invoices" in page.locator("table.retained").inner_text()

    page.goto(f"{base}/customers?q={email}")
    assert page.locator(f"tr[data-customer-id='{customer_id}']").count() == 0
    page.goto(f"{base}/customers?after={customer_id - 1}")
    assert page.locator(f"tr[data-customer-id='{customer_id}']").count() == 0
    page.goto(f"{base}/invoices?number={number}")
    row = page.locator(f"tr[data-invoice='{number}']")
    assert row.count() == 1
    assert "erased" in row.inner_text()


def test_a_record_without_a_purpose_shows_no_personal_data(site, page):
    base, db = site
    first, last, email, phone, street = _rows(
        db, "SELECT first_name, last_name, email, phone, street FROM customers WHERE id = 3")[0]
    page.goto(f"{base}/customers")
    page.locator("tr[data-customer-id='3'] a", has_text="Open record").click()
    page.locator("#purpose-question").wait_for()
    text = page.locator("main").inner_text()
    for value in (first, last, email, phone, street):
        assert value not in text
    page.select_option("#purpose", "customer_service")
    page.click("#purpose-question button[type=submit]")
    page.locator(".record-section[data-table=customers]").wait_for()
    text = page.locator("main").inner_text()
    assert email in text and "Customer service" in text
    assert "birth_date" not in text and "iban" not in text  # not this purpose's columns
    page.screenshot(path=str(SCREENSHOTS / "customer-record.png"), full_page=True)


def test_missing_chromium_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="ensure-chromium.sh"):
        _require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _require_chromium()
