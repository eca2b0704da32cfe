"""No order or consent in someone else's name: a checkout with an address already on file
places a guest order, writes nothing on the account holder's record, and records their
consent only when they confirm from the address on file; unconfirmed, the question expires
and is deleted."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from sandbox_cms.cms import open_sandbox
from sandbox_cms.data.shop import (
    LINKS_TABLE,
    CheckoutRefused,
    checkout_mails,
    confirm_checkout,
    place_order,
)

STRANGER = {"first_name": "Mallory", "last_name": "Vreemd", "street": "Andereweg",
            "house_number": "9", "postcode": "9999 ZZ", "city": "Elders"}


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def _holder(db: Path) -> tuple[int, str]:
    """A customer without a newsletter consent event."""
    return rows(db, "SELECT id, email FROM customers WHERE id NOT IN (SELECT customer_id FROM "
                    "consent_events WHERE purpose = 'newsletter' AND customer_id IS NOT NULL) "
                    "ORDER BY id LIMIT 1")[0]


def _record(db: Path, cid: int) -> dict[str, list[tuple]]:
    return {
        "orders": rows(db, "SELECT * FROM orders WHERE customer_id = ?", (cid,)),
        "invoices": rows(db, "SELECT * FROM invoices WHERE customer_id = ?", (cid,)),
        "consent": rows(db, "SELECT * FROM consent_events WHERE customer_id = ?", (cid,)),
        "customer": rows(db, "SELECT * FROM customers WHERE id = ?", (cid,)),
    }


def test_a_checkout_with_someone_elses_address_writes_nothing_on_their_record(db_path):
    cid, email = _holder(db_path)
    before = _record(db_path, cid)
    with open_sandbox(db_path) as cms:
        receipt = place_order(cms, {**STRANGER, "email": email.upper()}, "TR-244", 1,
                              ["newsletter"])
        assert receipt.customer_id is None and receipt.awaiting_confirmation
        assert receipt.consent_event_ids == ()
        assert not cms.consent.may(cid, "newsletter").allowed
        (mail,) = checkout_mails(cms)
        assert mail.to_address == email and mail.order_id == receipt.order_id
        assert "newsletter" in mail.body and mail.token in mail.body
    assert _record(db_path, cid) == before
    # The guest order exists, apart: no customer, billed to the name typed (the buyer's own).
    assert rows(db_path, "SELECT customer_id FROM orders WHERE id = ?",
                (receipt.order_id,)) == [(None,)]
    assert rows(db_path, "SELECT customer_id, billing_name FROM invoices WHERE number = ?",
                (receipt.invoice_number,)) == [(None, "Mallory Vreemd")]
    # The held question copies no address.
    held = rows(db_path, f"SELECT * FROM {LINKS_TABLE}")
    assert len(held) == 1 and not any(email in str(v) for v in held[0])


def test_the_holder_confirms_and_only_then_order_and_consent_are_theirs(db_path):
    cid, email = _holder(db_path)
    with open_sandbox(db_path) as cms:
        receipt = place_order(cms, {**STRANGER, "email": email}, "TR-244", 1, ["newsletter"])
        (mail,) = checkout_mails(cms)
        cms.clock.advance(hours=3)
        confirmed_at = cms.clock.now().replace(microsecond=0).isoformat()
        confirmed = confirm_checkout(cms, mail.token)
        assert confirmed.customer_id == cid and confirmed.consents == ("newsletter",)
        assert cms.consent.may(cid, "newsletter").allowed
        (event,) = cms.consent.events(cid, "newsletter")
        assert event.at == confirmed_at  # when the holder confirmed, not the checkout
        assert checkout_mails(cms) == []
        with pytest.raises(CheckoutRefused):
            confirm_checkout(cms, mail.token)  # used once
    assert rows(db_path, "SELECT customer_id FROM orders WHERE id = ?",
                (receipt.order_id,)) == [(cid,)]


def test_an_unconfirmed_question_expires_and_is_deleted(db_path):
    cid, email = _holder(db_path)
    with open_sandbox(db_path) as cms:
        receipt = place_order(cms, {**STRANGER, "email": email}, "TR-244", 1, ["newsletter"])
        (mail,) = checkout_mails(cms)
        cms.clock.advance(days=6)
        assert len(checkout_mails(cms)) == 1
        cms.clock.advance(days=2)
        assert checkout_mails(cms) == []
        with pytest.raises(CheckoutRefused):
            confirm_checkout(cms, mail.token)
        assert not cms.consent.may(cid, "newsletter").allowed
        assert "delete" in [e.action for e in cms.audit.entries() if e.table == LINKS_TABLE]
    assert rows(db_path, f"SELECT count(*) FROM {LINKS_TABLE}") == [(0,)]
    assert rows(db_path, "SELECT customer_id FROM orders WHERE id = ?",
                (receipt.order_id,)) == [(None,)]  # the sale itself stays


def test_erasing_the_holder_deletes_an_open_question(db_path):
    cid, email = _holder(db_path)
    with open_sandbox(db_path) as cms:
        place_order(cms, {**STRANGER, "email": email}, "TR-244", 1, [])
        report = cms.dsr.erase(email)
        assert any(r.table == LINKS_TABLE for r in report.removed)
    assert rows(db_path, f"SELECT count(*) FROM {LINKS_TABLE}") == [(0,)]


def test_a_new_address_still_opens_an_account_with_the_consent(db_path):
    with open_sandbox(db_path) as cms:
        receipt = place_order(cms, {**STRANGER, "email": "mallory.new@example.com"}, "TR-244",
                              1, ["newsletter"])
        assert receipt.customer_id is not None and not receipt.awaiting_confirmation
        assert cms.consent.may(receipt.customer_id, "newsletter").allowed


def test_the_web_shop_holds_the_order_apart_until_confirmed_from_the_outbox(client, db_path):
    cid, email = _holder(db_path)
    before = _record(db_path, cid)

    def csrf(url: str) -> str:
        page = client.get(url).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    form = {**STRANGER, "email": email, "product": "TR-244", "quantity": "1",
            "consent": "newsletter", "csrf_token": csrf("/shop")}
    page = client.post("/shop", data=form).get_data(as_text=True)
    assert 'id="awaiting-confirmation"' in page and "consent_ledger" not in page
    assert _record(db_path, cid) == before
    outbox = client.get("/outbox").get_data(as_text=True)
    assert email in outbox
    link = re.search(r'class="checkout-confirm-link" href="([^"]+)"', outbox).group(1)
    assert client.get(link).status_code == 200
    assert _record(db_path, cid) == before  # following the link alone changes nothing
    done = client.post(link, data={"csrf_token": csrf(link)})
    assert done.status_code == 200 and 'id="confirmed"' in done.get_data(as_text=True)
    after = _record(db_path, cid)
    assert len(after["orders"]) == len(before["orders"]) + 1
    assert len(after["consent"]) == len(before["consent"]) + 1
    assert client.get(link).status_code == 404

