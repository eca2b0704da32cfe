"""The checkout from Python: questions per consent purpose, one transaction, invoice numbers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox_cms.cms import open_sandbox
from sandbox_cms.shop import CheckoutRefused, consent_questions, place_order

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
    assert again.customer_id == first.customer_id  # known by e-mail address
    year, digits = first.invoice_number.split("-")
    assert again.invoice_number == f"{year}-{int(digits) + 1:0{len(digits)}d}"
    assert len(first.consent_event_ids) == 1 and again.consent_event_ids == ()
    assert cms.consent.may(first.customer_id, "newsletter").allowed


def test_a_refused_order_writes_nothing(cms):
    before = {t: count(cms, t) for t in ("customers", "orders", "invoices", "consent_events")}
    for customer, sku, quantity, consents in [
        ({**BUYER, "email": "piet@hotmail.com"}, "TR-244", 1, []),
        (BUYER, "NOPE", 1, []),
        (BUYER, "TR-244", 99, []),
        (BUYER, "TR-244", 1, ["profiling"]),
    ]:
        with pytest.raises(CheckoutRefused):
            place_order(cms, customer, sku, quantity, consents)
    assert {t: count(cms, t) for t in before} == before
