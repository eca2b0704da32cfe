"""The shop front: checkout with separate consent boxes, and "my data" requests with the outbox."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sandbox_cms.cms import open_sandbox
from sandbox_cms.web import create_app

BUYER = {
    "first_name": "Anna", "last_name": "Proefpersoon", "email": "anna.proef@example.com",
    "street": "Teststraat", "house_number": "12", "postcode": "1234 AB", "city": "Oefendorp",
    "product": "TR-305", "quantity": "2",
}


def token(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_checkout_has_one_unticked_box_per_consent_purpose(client, rendered):
    response = client.get("/shop")
    assert response.status_code == 200
    questions = rendered[-1][1]["questions"]
    assert [q.purpose for q in questions] == ["newsletter"]
    assert questions[0].text_version == "newsletter-v2"
    body = response.get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox"[^>]*>', body)
    assert len(boxes) == len(questions)
    assert all("checked" not in box for box in boxes)
    for needed in ("Who asks", "What for", "Which data", "Withdrawal", "newsletter-v2"):
        assert needed in body  # EDPB Guidelines 05/2020 para 64


def test_checkout_without_consent_creates_order_and_invoice_but_no_consent(client, db_path):
    events = rows(db_path, "SELECT count(*) FROM consent_events")[0][0]
    response = client.post("/shop", data={**BUYER, "csrf_token": token(client, "/shop")})
    assert response.status_code == 200
    customer = rows(db_path, "SELECT id FROM customers WHERE email = ?", (BUYER["email"],))
    assert customer
    cid = customer[0][0]
    orders = rows(db_path, "SELECT id, total_cents FROM orders WHERE customer_id = ?", (cid,))
    assert orders == [(orders[0][0], 2 * 24900)]
    invoices = rows(db_path, "SELECT number, billing_name FROM invoices WHERE customer_id = ?",
                    (cid,))
    assert invoices and invoices[0][1] == "Anna Proefpersoon"
    assert invoices[0][0] in response.get_data(as_text=True)
    assert rows(db_path, "SELECT count(*) FROM consent_events")[0][0] == events


def test_ticking_a_box_records_exactly_that_purpose_with_the_shown_text(client, db_path):
    response = client.post("/shop", data={**BUYER, "consent": "newsletter",
                                          "csrf_token": token(client, "/shop")})
    assert response.status_code == 200
    cid = rows(db_path, "SELECT id FROM customers WHERE email = ?", (BUYER["email"],))[0][0]
    events = rows(db_path, "SELECT purpose, event, text_version, method, channel "
                           "FROM consent_events WHERE customer_id = ?", (cid,))
    assert events == [("newsletter", "granted", "newsletter-v2", "separate_checkbox", "checkout")]
    with open_sandbox(db_path) as cms:
        assert cms.consent.may(cid, "newsletter").allowed


def test_checkout_refuses_bad_input_and_writes_nothing(client, db_path):
    csrf = token(client, "/shop")
    customers = rows(db_path, "SELECT count(*) FROM customers")[0][0]
    cases = [
        ({"first_name": "A" * 201}, "too long"),
        ({"email": "planted-refused-anna@gmail.com"}, "reserved"),
        ({"last_name": ""}, "required"),
        ({"product": "NO-SUCH"}, "no product"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "1; DROP TABLE orders"}, "whole number"),
        ({"consent": "marketing_to_everyone"}, "no consent question"),
    ]
    for change, expected in cases:
        response = client.post("/shop", data={**BUYER, **change, "csrf_token": csrf})
        assert response.status_code == 400, change
        assert expected in response.get_data(as_text=True).lower(), change
    assert rows(db_path, "SELECT count(*) FROM customers")[0][0] == customers


def test_markup_typed_into_the_checkout_is_stored_and_shown_as_text(client, db_path):
    hostile = "<img src=x onerror=alert(1)>"
    client.post("/shop", data={**BUYER, "city": hostile, "csrf_token": token(client, "/shop")})
    cid = rows(db_path, "SELECT id FROM customers WHERE email = ?", (BUYER["email"],))[0][0]
    body = client.get(f"/customers/{cid}?purpose=order_fulfilment").get_data(as_text=True)
    assert hostile not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_erasure_request_goes_through_the_outbox_confirmation(client, rendered, db_path):
    cid, email = rows(db_path, "SELECT customer_id, c.email FROM invoices i JOIN customers c "
                               "ON c.id = i.customer_id ORDER BY i.id LIMIT 1")[0]
    numbers = [n for (n,) in rows(db_path, "SELECT number FROM invoices WHERE customer_id = ?",
                                  (cid,))]
    sent = client.post("/my-data", data={"email": email, "kind": "erase",
                                         "csrf_token": token(client, "/my-data")})
    assert sent.status_code == 200
    assert rows(db_path, "SELECT count(*) FROM customers WHERE id = ?", (cid,))[0][0] == 1

    outbox = client.get("/outbox").get_data(as_text=True)
    assert email in outbox
    link = re.search(r'class="confirm-link" href="([^"]+)"', outbox).group(1)
    confirm_page = client.get(link)
    assert confirm_page.status_code == 200
    assert rows(db_path, "SELECT count(*) FROM customers WHERE id = ?", (cid,))[0][0] == 1

    done = client.post(link, data={"csrf_token": token(client, link)})
    assert done.status_code == 200
    name, context = rendered[-1]
    assert name == "my_data_erased.html"
    assert any(item.table == "customers" for item in context["report"].removed)
    assert any(item.table == "invoices" for item in context["report"].retained)
    assert client.get(link).status_code == 404  # a used link shows no confirm button again

    assert rows(db_path, "SELECT count(*) FROM customers WHERE id = ?", (cid,))[0][0] == 0
    client.get("/customers", query_string={"q": email})
    assert rendered[-1][1]["page"].rows == []
    listing = client.get("/customers", query_string={"after": cid - 1}).get_data(as_text=True)
    assert f'data-customer-id="{cid}"' not in listing and email not in listing
    for number in numbers:
        client.get("/invoices", query_string={"number": number})
        kept = rendered[-1][1]["page"].rows
        assert [r["number"] for r in kept] == [number]
        assert kept[0]["customer_id"] is None
    assert email not in client.get("/outbox").get_data(as_text=True)


def test_export_request_shows_the_data_after_confirmation(client, db_path):
    email = rows(db_path, "SELECT email FROM customers WHERE id = 12")[0][0]
    client.post("/my-data", data={"email": email, "kind": "export",
                                  "csrf_token": token(client, "/my-data")})
    outbox = client.get("/outbox").get_data(as_text=True)
    link = re.search(r'class="confirm-link" href="([^"]+)"', outbox).group(1)
    done = client.post(link, data={"csrf_token": token(client, link)})
    assert done.status_code == 200
    assert email in done.get_data(as_text=True)
    again = client.post(link, data={"csrf_token": token(client, "/my-data")})
    assert again.status_code == 400  # a code works once


def test_unknown_email_gets_the_same_neutral_answer_and_no_mail(client, db_path):
    response = client.post("/my-data", data={"email": "nobody@example.org", "kind": "erase",
                                              "csrf_token": token(client, "/my-data")})
    assert response.status_code == 200
    assert "If we have an account with this address" in response.get_data(as_text=True)
    assert rows(db_path, "SELECT count(*) FROM dsr_outbox")[0][0] == 0


def test_my_data_refuses_bad_input(client):
    csrf = token(client, "/my-data")
    assert client.post("/my-data", data={"email": "a@example.com", "kind": "delete_all",
                                         "csrf_token": csrf}).status_code == 400
    assert client.post("/my-data", data={"email": "x" * 255 + "@example.com", "kind": "erase",
                                         "csrf_token": csrf}).status_code == 400
    assert client.post("/my-data", data={"kind": "erase", "csrf_token": csrf}).status_code == 400
    assert client.get("/my-data/confirm/short").status_code == 404
    assert client.get("/my-data/confirm/has%20spaces%20in%20it").status_code == 404
    assert client.get("/my-data/confirm/abcdefghijklmnop").status_code == 404  # unknown code
    unknown = client.post("/my-data/confirm/abcdefghijklmnop", data={"csrf_token": csrf})
    assert unknown.status_code == 404  # an unknown code is an unknown address, not bad input
    assert "unknown confirmation code" in unknown.get_data(as_text=True)
    assert client.post("/my-data/confirm/abcdefghijklmnop").status_code == 400  # no token


def test_ebooks_checkout_asks_each_consent_separately(tmp_path: Path):
    from sandbox_cms.data.build import fresh_copy

    db = fresh_copy(tmp_path / "ebooks.db", scenario="ebooks")
    app = create_app(db, config={"TESTING": True})
    client = app.test_client()
    body = client.get("/shop").get_data(as_text=True)
    purposes = re.findall(r'<div class="consent" data-purpose="([^"]+)"', body)
    assert sorted(purposes) == ["antipiracy_sharing", "newsletter"]
    assert all("checked" not in box for box in re.findall(r'<input type="checkbox"[^>]*>', body))
    with sqlite3.connect(db) as conn:
        sku = conn.execute("SELECT sku FROM products LIMIT 1").fetchone()[0]
    response = client.post("/shop", data={**BUYER, "product": sku, "quantity": "1",
                                          "consent": "antipiracy_sharing",
                                          "csrf_token": token(client, "/shop")})
    assert response.status_code == 200
    cid = rows(db, "SELECT id FROM customers WHERE email = ?", (BUYER["email"],))[0][0]
    assert rows(db, "SELECT purpose, text_version FROM consent_events WHERE customer_id = ?",
                (cid,)) == [("antipiracy_sharing", "antipiracy-v1")]


def test_a_refused_checkout_shows_the_form_again_with_the_values_but_no_ticks(client, rendered):
    response = client.post("/shop", data={**BUYER, "email": "planted-refused-anna@gmail.com",
                                          "consent": "newsletter",
                                          "csrf_token": token(client, "/shop")})
    assert response.status_code == 400
    name, context = rendered[-1]
    assert name == "checkout.html" and "reserved" in context["error"]
    body = response.get_data(as_text=True)
    assert 'value="Proefpersoon"' in body and 'value="planted-refused-anna@gmail.com"' in body
    assert all("checked" not in box for box in re.findall(r'<input type="checkbox"[^>]*>', body))


# -- withdrawing a consent ----------------------------------------------------------------------


def _buy_with_newsletter(client) -> int:
    client.post("/shop", data={**BUYER, "consent": ["newsletter"],
                               "csrf_token": token(client, "/shop")})
    return rows_of_buyer(client)


def rows_of_buyer(client) -> int:
    db = client.application.config["SANDBOX_DB"]
    return rows(Path(db), "SELECT id FROM customers WHERE email = ?", (BUYER["email"],))[0][0]


def test_a_consent_is_withdrawn_on_my_data_as_easily_as_it_was_given(client, rendered, db_path):
    cid = _buy_with_newsletter(client)
    with open_sandbox(db_path) as cms:
        assert cms.consent.may(cid, "newsletter").allowed
    page = client.get("/my-data").get_data(as_text=True)
    assert 'name="purpose" value="newsletter"' in page
    assert 'value="newsletter"\n      id="withdraw-newsletter"> ' in page  # unticked
    response = client.post("/my-data/withdraw", data={
        "email": BUYER["email"].upper(), "purpose": "newsletter",
        "csrf_token": token(client, "/my-data")})
    assert response.status_code == 200
    assert rendered[-1][0] == "my_data_withdrawn.html"
    with open_sandbox(db_path) as cms:
        assert not cms.consent.may(cid, "newsletter").allowed
        last = cms.consent.events(cid, "newsletter")[-1]
    assert (last.event, last.text_version, last.method, last.channel) == (
        "withdrawn", "newsletter-v2", "separate_checkbox", "my_data")
    ledger = client.get(f"/customers/{cid}/consents").get_data(as_text=True)
    assert f'data-event-id="{last.id}"' in ledger and "withdrawn" in ledger
    # Withdrawing again adds nothing: the latest event is already a withdrawal.
    client.post("/my-data/withdraw", data={"email": BUYER["email"], "purpose": "newsletter",
                                           "csrf_token": token(client, "/my-data")})
    assert rows(db_path, "SELECT count(*) FROM consent_events WHERE customer_id = ?",
                (cid,))[0][0] == 2


def test_withdrawal_for_an_unknown_address_gets_the_same_answer_and_changes_nothing(
        client, db_path):
    _buy_with_newsletter(client)
    count = "SELECT count(*) FROM consent_events"
    answers, counts = [], []
    for email in ("nobody@example.org", BUYER["email"]):
        response = client.post("/my-data/withdraw", data={
            "email": email, "purpose": "newsletter", "csrf_token": token(client, "/my-data")})
        assert response.status_code == 200
        answers.append(re.sub(r"\s+", " ", re.search(
            r'id="withdrawn">(.*?)</p>', response.get_data(as_text=True), re.S).group(1)))
        counts.append(rows(db_path, count)[0][0])
    assert answers[0] == answers[1]
    assert counts[1] == counts[0] + 1  # only the known address withdrew


def test_withdrawal_refuses_bad_input_and_writes_nothing(client, db_path):
    before = rows(db_path, "SELECT count(*) FROM consent_events")[0][0]
    csrf = token(client, "/my-data")
    email = rows(db_path, "SELECT c.email FROM consent_events e JOIN customers c "
                          "ON c.id = e.customer_id WHERE e.event = 'granted' LIMIT 1")[0][0]
    bad = [
        {"email": email, "purpose": "newsletter"},  # no CSRF token
        {"email": email, "purpose": "newsletter", "csrf_token": "forged"},
        {"email": email, "csrf_token": csrf},  # nothing ticked
        {"email": email, "purpose": "order_fulfilment", "csrf_token": csrf},  # not a consent
        {"email": email, "purpose": "x" * 65, "csrf_token": csrf},
        {"email": email, "purpose": ["newsletter"] * 21, "csrf_token": csrf},
        {"email": "x" * 255 + "@example.com", "purpose": "newsletter", "csrf_token": csrf},
        {"purpose": "newsletter", "csrf_token": csrf},  # no address
    ]
    for data in bad:
        response = client.post("/my-data/withdraw", data=data)
        assert response.status_code == 400, data
        assert "Traceback" not in response.get_data(as_text=True)
    markup = client.post("/my-data/withdraw", data={
        "email": email, "purpose": "<script>alert(1)</script>", "csrf_token": csrf})
    assert markup.status_code == 400
    assert "<script>alert(1)" not in markup.get_data(as_text=True)
    assert client.get("/my-data/withdraw").status_code == 405
    assert rows(db_path, "SELECT count(*) FROM consent_events")[0][0] == before
