"""The notebook widgets, driven from Python: set widget values, click buttons, read what
they show. No browser: ipywidgets run their Python side without a front end."""

from __future__ import annotations

import datetime as dt

import pytest

from sandbox_cms import fresh_sandbox
from sandbox_cms.notebook.widgets import AuditLogView, ClockControl, ConsentForm, CustomerCard


@pytest.fixture
def cms(tmp_path):
    sandbox = fresh_sandbox(scenario="webshop", customers=300, path=tmp_path / "shop.db")
    yield sandbox
    sandbox.close()


def customer(cms, customer_id: int) -> dict:
    with cms._internal("dsr_access", "test") as p:
        return p.query("SELECT * FROM customers WHERE id = ?", (customer_id,))[0]


# --- customer card ------------------------------------------------------------------------


def test_card_shows_nothing_before_a_purpose_is_chosen(cms) -> None:
    person = customer(cms, 7)
    before = len(cms.audit.entries(customer_id=7))
    card = CustomerCard(cms, customer_id=7)
    assert card.purpose.value == ""
    assert card.shown() == {}
    assert "Choose why you open this record" in card.view.value
    assert person["email"] not in card.view.value
    assert person["last_name"] not in card.view.value
    assert len(cms.audit.entries(customer_id=7)) == before  # nothing was read


def test_card_shows_only_the_purposes_columns_and_is_audited(cms) -> None:
    person = customer(cms, 7)
    card = CustomerCard(cms, customer_id=7)
    card.purpose.value = "newsletter"
    shown = card.shown()
    assert set(shown) <= {"customers", "consent_events", "mailing_recipients"}
    assert set(shown["customers"][0]) == {"id", "first_name", "email"}
    assert person["email"] in card.view.value
    assert person["last_name"] not in card.view.value
    assert person["street"] not in card.view.value
    reads = cms.audit.entries(purpose="newsletter", customer_id=7, action="read")
    assert reads and all(e.actor == "learner" for e in reads)


def test_card_follows_purpose_and_customer_changes(cms) -> None:
    card = CustomerCard(cms, customer_id=7)
    card.purpose.value = "order_fulfilment"
    assert "street" in card.shown()["customers"][0]
    assert card.shown()["orders"]
    card.customer.value = 8
    assert card.shown()["customers"][0]["id"] == 8
    assert cms.audit.entries(purpose="order_fulfilment", customer_id=8)


def test_card_explains_an_unknown_customer_or_a_purpose_without_customer_data(cms) -> None:
    card = CustomerCard(cms, customer_id=99999)
    card.purpose.value = "newsletter"
    assert card.shown() == {}
    assert "no customer with id 99999" in card.message
    card.customer.value = 7
    card.purpose.value = "bug_fixing"
    assert card.shown() == {}
    assert "covers no columns of the customers table" in card.message


def test_card_offers_no_internal_purposes(cms) -> None:
    card = CustomerCard(cms)
    offered = {value for _label, value in card.purpose.options} - {""}
    internal = {name for name, p in cms.register.purposes.items() if p.internal}
    assert internal and not offered & internal
    assert "newsletter" in offered


# --- audit log view ---------------------------------------------------------------------------


def open_cards(cms) -> None:
    card = CustomerCard(cms, customer_id=7)
    card.purpose.value = "newsletter"
    card.customer.value = 8
    card.purpose.value = "order_fulfilment"


def test_audit_view_lists_newest_first_and_filters(cms) -> None:
    open_cards(cms)
    view = AuditLogView(cms)
    rows = view.rows()
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
    assert {"newsletter", "order_fulfilment"} <= {r["purpose"] for r in rows}

    view.purpose.value = "newsletter"
    assert view.rows() and {r["purpose"] for r in view.rows()} == {"newsletter"}

    view.purpose.value = ""
    view.customer.value = "8"
    assert view.rows()
    assert all("8" in r["rows"].split(", ") for r in view.rows())
    assert {r["purpose"] for r in view.rows()} == {"newsletter", "order_fulfilment"}
    view.customer.value = "7"
    assert {r["purpose"] for r in view.rows()} == {"newsletter"}

    view.customer.value = ""
    assert "read" in {value for _label, value in view.action.options}
    view.action.value = "read"
    assert view.rows() and {r["action"] for r in view.rows()} == {"read"}


def test_audit_view_refuses_a_bad_customer_filter_and_keeps_its_list(cms) -> None:
    open_cards(cms)
    view = AuditLogView(cms)
    before = view.rows()
    view.customer.value = "seven"
    assert "whole number" in view.message
    assert view.rows() == before


def test_audit_view_refresh_shows_new_entries(cms) -> None:
    view = AuditLogView(cms)
    count = len(view.rows())
    open_cards(cms)
    view.refresh_button.click()
    assert len(view.rows()) > count


def test_audit_view_limits_the_list(cms) -> None:
    open_cards(cms)
    view = AuditLogView(cms, limit=2)
    assert len(view.rows()) == 2
    assert "the first 2 shown" in view.view.value


# --- clock control ---------------------------------------------------------------------------


def test_clock_buttons_move_the_sandbox_clock(cms) -> None:
    control = ClockControl(cms)
    start = cms.clock.now()
    assert start.isoformat(" ") in control.now_label.value
    plus_30 = next(b for b in control.buttons if b.description == "+30 days")
    plus_30.click()
    assert cms.clock.now() == start + dt.timedelta(days=30)
    assert cms.clock.now().isoformat(" ") in control.now_label.value
    assert cms.audit.entries(action="clock")


def test_clock_jump_forward_and_refuse_backwards(cms) -> None:
    control = ClockControl(cms)
    start = cms.clock.now()
    control.date.value = (start - dt.timedelta(days=400)).date()
    control.jump_button.click()
    assert "backwards" in control.message
    assert cms.clock.now() == start
    assert "backwards" in control.feedback.value

    target = dt.date(2031, 1, 1)
    control.date.value = target
    control.jump_button.click()
    assert control.message == ""
    assert cms.clock.now() == dt.datetime(2031, 1, 1, 9, 0)


def test_clock_jump_without_a_date_says_so(cms) -> None:
    control = ClockControl(cms)
    control.jump()
    assert control.message == "pick a date first"


# --- consent form ----------------------------------------------------------------------------


def without_newsletter_consent(cms) -> int:
    for cid in range(1, 301):
        if not cms.consent.may(cid, "newsletter").allowed:
            return cid
    raise AssertionError("every customer has newsletter consent")


def test_consent_form_has_separate_unticked_boxes_with_the_text(cms) -> None:
    form = ConsentForm(cms)
    assert "newsletter" in form.boxes
    assert all(box.value is False for box in form.boxes.values())
    version, text = form.questions["newsletter"]
    assert form.boxes["newsletter"].description == text
    grounds = {cms.register.purposes[name].legal_ground for name in form.boxes}
    assert grounds == {"consent"}


def test_consent_form_records_a_grant_only_for_a_ticked_box(cms) -> None:
    cid = without_newsletter_consent(cms)
    form = ConsentForm(cms, customer_id=cid)
    form.save_button.click()
    assert "nothing ticked" in form.message
    assert not cms.consent.may(cid, "newsletter").allowed

    form.boxes["newsletter"].value = True
    form.save_button.click()
    assert cms.consent.may(cid, "newsletter").allowed
    last = cms.consent.events(cid, "newsletter")[-1]
    assert (last.event, last.method, last.channel) == ("granted", "separate_checkbox", "notebook")
    assert form.boxes["newsletter"].value is False  # ready for the next customer


def test_consent_form_reports_an_unknown_customer(cms) -> None:
    form = ConsentForm(cms, customer_id=99999)
    form.boxes["newsletter"].value = True
    form.save()
    assert "99999" in form.message
