"""The consent ledger: recording, refusals, and the EDPB rules behind ``may``."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main
from sandbox_cms.cms import Sandbox, open_sandbox
from sandbox_cms.core.errors import ConsentRefused, UnknownCustomer, UnknownPurpose
from sandbox_cms.data.build import fresh_copy
from sandbox_cms.privacy.consent import load_methods


@pytest.fixture
def ebooks(tmp_path: Path) -> Sandbox:
    """The e-book shop: it asks for two consents (newsletter, anti-piracy sharing)."""
    sandbox = open_sandbox(fresh_copy(tmp_path / "ebooks.db", scenario="ebooks"))
    yield sandbox
    sandbox.close()


@contextlib.contextmanager
def _raw(cms: Sandbox) -> Iterator[sqlite3.Connection]:
    """A plain connection beside the CMS (no purpose gate), committed and closed after."""
    conn = sqlite3.connect(cms.path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _customer_without_events(cms: Sandbox) -> int:
    with _raw(cms) as raw:
        return raw.execute(
            "SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM consent_events)"
            " ORDER BY id LIMIT 1").fetchone()[0]


def _event_count(cms: Sandbox) -> int:
    with _raw(cms) as raw:
        return raw.execute("SELECT COUNT(*) FROM consent_events").fetchone()[0]


NEWSLETTER_TEXT = "newsletter-v2"


def test_a_separate_checkbox_grant_allows_processing(cms: Sandbox) -> None:
    cid = _customer_without_events(cms)
    assert not cms.consent.may(cid, "newsletter").allowed
    event_id = cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT,
                                  "separate_checkbox", "checkout")
    decision = cms.consent.may(cid, "newsletter")
    assert decision.allowed
    assert decision.event_id == event_id
    assert "6(1)(a)" in decision.reason and NEWSLETTER_TEXT in decision.reason


@pytest.mark.parametrize(("method", "cited"), [
    ("pre_ticked", "para 79"),
    ("bundled_terms", "para 81"),
    ("scrolling", "para 86"),
    ("bundled_purposes", "recital 43"),
    ("silence", "recital 32"),
    ("required_for_checkout", "7(4)"),
])
def test_invalid_ways_of_agreeing_are_no_consent(cms: Sandbox, method: str, cited: str) -> None:
    cid = _customer_without_events(cms)
    event_id = cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT, method,
                                  "checkout")
    decision = cms.consent.may(cid, "newsletter")
    assert not decision.allowed
    assert decision.event_id == event_id
    assert cited in decision.reason
    assert cid not in cms.consent.allowed_customers("newsletter")


def test_withdrawal_after_a_grant_wins_and_time_matters(cms: Sandbox) -> None:
    cid = _customer_without_events(cms)
    cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT, "separate_checkbox",
                       "checkout", at="2024-01-10T10:00:00")
    withdrawn = cms.consent.record(cid, "newsletter", "withdrawn", NEWSLETTER_TEXT,
                                   "unsubscribe_link", "email", at="2024-06-01T12:00:00")
    now = cms.consent.may(cid, "newsletter")
    assert not now.allowed and "7(3)" in now.reason and now.event_id == withdrawn
    # Between grant and withdrawal the grant holds; before the grant nothing does.
    assert cms.consent.may(cid, "newsletter", at="2024-03-01").allowed
    before = cms.consent.may(cid, "newsletter", at="2024-01-10T09:59:59")
    assert not before.allowed and "comes later" in before.reason
    assert cid in cms.consent.allowed_customers("newsletter", at="2024-03-01")
    assert cid not in cms.consent.allowed_customers("newsletter")
    # A fresh, valid grant after the withdrawal counts again.
    cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT, "account_setting",
                       "account", at="2024-09-01")
    assert cms.consent.may(cid, "newsletter").allowed


def test_an_invalid_grant_does_not_undo_a_valid_one(cms: Sandbox) -> None:
    cid = _customer_without_events(cms)
    cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT, "separate_checkbox",
                       "checkout", at="2024-01-10")
    cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT, "pre_ticked",
                       "checkout", at="2024-02-10")
    assert cms.consent.may(cid, "newsletter").allowed


def test_consent_is_per_purpose(ebooks: Sandbox) -> None:
    cid = _customer_without_events(ebooks)
    ebooks.consent.record(cid, "newsletter", "granted", "newsletter-v1", "separate_checkbox",
                          "checkout")
    assert ebooks.consent.may(cid, "newsletter").allowed
    other = ebooks.consent.may(cid, "antipiracy_sharing")
    assert not other.allowed and "per purpose" in other.reason
    assert cid not in ebooks.consent.allowed_customers("antipiracy_sharing")


def test_a_grant_with_an_unknown_text_cannot_be_proven(cms: Sandbox) -> None:
    cid = _customer_without_events(cms)
    with _raw(cms) as raw:  # written behind the CMS's back: the text is not on record
        raw.execute(
            "INSERT INTO consent_events (customer_id, purpose, event, at, text_version, method,"
            " channel, provenance_id) VALUES (?, 'newsletter', 'granted', '2024-01-01T00:00:00',"
            " 'newsletter-v9', 'separate_checkbox', 'checkout', 1)", (cid,))
    decision = cms.consent.may(cid, "newsletter")
    assert not decision.allowed and "7(1)" in decision.reason
    assert cid not in cms.consent.allowed_customers("newsletter")


def test_a_purpose_on_another_ground_needs_no_consent(cms: Sandbox) -> None:
    decision = cms.consent.may(_customer_without_events(cms), "invoicing")
    assert decision.allowed and "6(1)(c)" in decision.reason


def test_allowed_customers_agrees_with_may_for_every_customer(cms: Sandbox) -> None:
    with _raw(cms) as raw:
        ids = [r[0] for r in raw.execute(
            "SELECT DISTINCT customer_id FROM consent_events ORDER BY customer_id")]
        ids += [r[0] for r in raw.execute(
            "SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM consent_events)"
            " LIMIT 20")]
    for at in ("2021-01-01", None):
        bulk = cms.consent.allowed_customers("newsletter", at=at)
        one_by_one = {cid for cid in ids if cms.consent.may(cid, "newsletter", at=at).allowed}
        assert bulk == one_by_one
    assert bulk, "the webshop scenario has customers with valid newsletter consent"


def test_events_are_listed_in_order(cms: Sandbox) -> None:
    cid = _customer_without_events(cms)
    first = cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT,
                               "separate_checkbox", "checkout", at="2024-01-10")
    second = cms.consent.record(cid, "newsletter", "withdrawn", NEWSLETTER_TEXT,
                                "unsubscribe_link", "email", at="2024-02-10")
    events = cms.consent.events(cid)
    assert [e.id for e in events] == [first, second]
    assert events[1].event == "withdrawn" and events[1].channel == "email"


def test_recording_is_audited_under_consent_administration(cms: Sandbox) -> None:
    cid = _customer_without_events(cms)
    cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT, "separate_checkbox",
                       "checkout")
    entries = cms.audit.entries(purpose="consent_administration", customer_id=cid)
    assert any(e.action == "write" and e.table == "consent_events" for e in entries)
    assert cms.audit.verify().ok


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"customer_id": 10**9}, UnknownCustomer, "no customer with id"),
    ({"purpose": "telemarketing"}, UnknownPurpose, "unknown purpose"),
    ({"purpose": "invoicing"}, ConsentRefused, "not on consent"),
    ({"text_version": "newsletter-v9"}, ConsentRefused, "unknown consent text"),
    ({"method": "telepathy"}, ConsentRefused, "unknown consent method"),
    ({"event": "maybe"}, ConsentRefused, "'granted' or 'withdrawn'"),
    ({"channel": " "}, ConsentRefused, "channel"),
    ({"at": "2099-01-01"}, ConsentRefused, "after the sandbox clock"),
])
def test_record_refuses_what_it_cannot_vouch_for(cms: Sandbox, kwargs: dict, error: type,
                                                 message: str) -> None:
    args = {"customer_id": _customer_without_events(cms), "purpose": "newsletter",
            "event": "granted", "text_version": NEWSLETTER_TEXT, "method": "separate_checkbox",
            "channel": "checkout", **kwargs}
    before = _event_count(cms)
    with pytest.raises(error, match=message):
        cms.consent.record(**args)
    assert _event_count(cms) == before


def test_may_refuses_unknown_customer_and_purpose(cms: Sandbox) -> None:
    with pytest.raises(UnknownCustomer):
        cms.consent.may(10**9, "newsletter")
    with pytest.raises(UnknownPurpose, match="newsletter"):
        cms.consent.may(1, "telemarketing")


def test_every_invalid_method_cites_its_source() -> None:
    methods = load_methods()
    assert {"separate_checkbox", "pre_ticked", "bundled_terms", "scrolling"} <= set(methods)
    for method in methods.values():
        assert method.valid or ("EDPB" in method.reason or "recital" in method.reason)


def test_cli_consent_may_and_events(cms: Sandbox) -> None:
    cid = _customer_without_events(cms)
    cms.consent.record(cid, "newsletter", "granted", NEWSLETTER_TEXT, "pre_ticked", "checkout")
    cms.close()
    runner = CliRunner()
    result = runner.invoke(main, ["consent", "may", "--db", str(cms.path), "--customer",
                                  str(cid), "--purpose", "newsletter"])
    assert result.exit_code == 1 and "not allowed" in result.output and "para 79" in result.output
    result = runner.invoke(main, ["consent", "events", "--db", str(cms.path), "--customer",
                                  str(cid)])
    assert result.exit_code == 0 and "pre_ticked" in result.output
    result = runner.invoke(main, ["consent", "may", "--db", str(cms.path), "--customer",
                                  str(cid), "--purpose", "nope"])
    assert result.exit_code == 1 and "unknown purpose" in result.output
    assert "Traceback" not in result.output


def test_a_customer_id_beyond_sqlite_integers_is_an_unknown_customer(cms: Sandbox) -> None:
    with pytest.raises(UnknownCustomer, match="no customer with id"):
        cms.consent.may(10**30, "newsletter")
    with pytest.raises(UnknownCustomer):
        cms.consent.events(-(10**30))
    before = _event_count(cms)
    with pytest.raises(UnknownCustomer):
        cms.consent.record(10**30, "newsletter", "granted", NEWSLETTER_TEXT,
                           "separate_checkbox", "checkout")
    assert _event_count(cms) == before
    cms.close()
    result = CliRunner().invoke(main, ["consent", "events", "--db", str(cms.path),
                                       "--customer", str(10**30)])
    assert result.exit_code == 1 and result.output.startswith("Error: no customer with id")
