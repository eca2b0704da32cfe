"""The checkout from Python: questions per consent purpose, one transaction, invoice numbers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox_cms.cms import open_sandbox
from sandbox_cms.data.shop import (
    CheckoutRefused,
    consent_questions,
    place_order,
    withdraw_consents,
)

BUYER = {"first_name": "Piet", "last_name": "Proef", "email": "piet.proef@example.net",
         "street": "Laan", "house_number": "3", "postcode": "9999 ZZ", "city": "Nergens"}


@pytest.fixture
def cms(db_path: Path):
    with open_sandbox(db_path) as sandbox:
        yield sandbox


def count(cms, table: str) -> int:
    with sqlite3.connect(cms.path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_questions_use_the_newest_published_text(cms):
    (question,) = consent_questions(cms)
    assert (question.purpose, question.text_version) == ("newsletter", "newsletter-v2")
    assert "7(3)" in question.withdrawal and question.controller


def test_an_order_gets_the_next_invoice_number_and_its_consents(cms):
    first = place_order(cms, BUYER, "TR-244", 1, ["newsletter"])
    again = place_order(cms, BUYER, "AC-LADDER", 2, [])
    # An address on file proves nobody's identity: a guest order, held for confirmation
    # from that address (tests/test_checkout_identity.py).
    assert again.customer_id is None and again.awaiting_confirmation
    year, digits = first.invoice_number.split("-")
    assert again.invoice_number == f"{year}-{int(digits) + 1:0{len(digits)}d}"
    assert len(first.consent_event_ids) == 1 and again.consent_event_ids == ()
    assert cms.consent.may(first.customer_id, "newsletter").allowed


def test_a_refused_order_writes_nothing(cms):
    before = {t: count(cms, t) for t in ("customers", "orders", "invoices", "consent_events")}
    for customer, sku, quantity, consents in [
        ({**BUYER, "email": "planted-refused-piet@hotmail.com"}, "TR-244", 1, []),
        (BUYER, "NOPE", 1, []),
        (BUYER, "TR-244", 99, []),
        (BUYER, "TR-244", 1, ["profiling"]),
    ]:
        with pytest.raises(CheckoutRefused):
            place_order(cms, customer, sku, quantity, consents)
    assert {t: count(cms, t) for t in before} == before


def test_withdrawal_names_the_text_that_was_agreed_to(cms):
    # A customer who signed up under the older text withdraws from that text.
    receipt = place_order(cms, BUYER, "TR-244", 1, [])
    cms.consent.record(receipt.customer_id, "newsletter", "granted", "newsletter-v1",
                       "separate_checkbox", "checkout")
    assert cms.consent.may(receipt.customer_id, "newsletter").allowed
    (event_id,) = withdraw_consents(cms, BUYER["email"].upper(), ["newsletter"])
    last = cms.consent.events(receipt.customer_id, "newsletter")[-1]
    assert (last.id, last.event, last.text_version, last.channel) == (
        event_id, "withdrawn", "newsletter-v1", "my_data")
    assert not cms.consent.may(receipt.customer_id, "newsletter").allowed
    assert withdraw_consents(cms, BUYER["email"], ["newsletter"]) == ()  # nothing left to withdraw
    assert withdraw_consents(cms, "nobody@example.org", ["newsletter"]) == ()


@pytest.mark.parametrize("purposes", [[], ["order_fulfilment"], ["no_such_purpose"]])
def test_withdrawal_needs_a_consent_purpose_of_the_form(cms, purposes):
    before = count(cms, "consent_events")
    with pytest.raises(CheckoutRefused):
        withdraw_consents(cms, BUYER["email"], purposes)
    assert count(cms, "consent_events") == before
