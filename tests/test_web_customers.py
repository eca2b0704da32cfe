"""Customers in the browser: list, search, paging, a record under a purpose, the consent ledger."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sandbox_cms.cms import open_sandbox
from sandbox_cms.privacy.directory import LIST_COLUMNS, LIST_PURPOSE, PAGE_SIZE

HOSTILE = '<script>alert("x")</script>'


def customer(db: Path, customer_id: int) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    conn.close()
    return dict(row)


def audit_entries(db: Path, **filters) -> list:
    with open_sandbox(db) as cms:
        return cms.audit.entries(**filters)


def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-customer-id="(\d+)"', page)]


def test_list_runs_under_one_purpose_and_shows_only_list_columns(client, rendered, db_path):
    response = client.get("/customers")
    assert response.status_code == 200
    name, context = rendered[-1]
    assert name == "customers.html"
    assert context["page"].purpose == LIST_PURPOSE == context["purpose"].name
    assert context["page"].columns == LIST_COLUMNS
    assert len(context["page"].rows) == PAGE_SIZE
    body = response.get_data(as_text=True)
    assert 'data-purpose="customer_service"' in body
    first = customer(db_path, 1)
    assert first["email"] in body
    assert first["phone"] and first["street"]
    assert first["phone"] not in body and first["street"] not in body  # not what a list shows


def test_list_pages_by_keyset_forward_and_back(client):
    first = client.get("/customers").get_data(as_text=True)
    page1 = ids_on(first)
    after = re.search(r'rel="next" href="[^"]*after=(\d+)', first).group(1)
    assert int(after) == page1[-1]
    second = client.get(f"/customers?after={after}").get_data(as_text=True)
    page2 = ids_on(second)
    assert len(page2) == PAGE_SIZE and page2[0] > page1[-1]
    before = re.search(r'rel="prev" href="[^"]*before=(\d+)', second).group(1)
    back = ids_on(client.get(f"/customers?before={before}").get_data(as_text=True))
    assert back == page1


def test_search_by_last_name_prefix_ignores_case(client, rendered, db_path):
    target = customer(db_path, 7)
    prefix = target["last_name"][:3].lower()
    response = client.get("/customers", query_string={"q": prefix})
    assert response.status_code == 200
    rows = rendered[-1][1]["page"].rows
    assert 7 in [r["id"] for r in rows]
    assert all(r["last_name"].lower().startswith(prefix)
               or r["email"].startswith(prefix) for r in rows)


def test_search_by_email_prefix(client, rendered, db_path):
    email = customer(db_path, 11)["email"]
    client.get("/customers", query_string={"q": email.upper()})
    assert [r["id"] for r in rendered[-1][1]["page"].rows] == [11]


def test_search_with_sql_metacharacters_is_just_text(client, rendered, db_path):
    for term in ["' OR 1=1 --", '"; DROP TABLE customers; --', "%", "_"]:
        response = client.get("/customers", query_string={"q": term})
        assert response.status_code == 200
        assert rendered[-1][1]["page"].rows == []
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM customers").fetchone()[0] > 0


def test_search_term_with_markup_is_shown_as_text(client):
    body = client.get("/customers", query_string={"q": HOSTILE}).get_data(as_text=True)
    assert HOSTILE not in body
    assert "&lt;script&gt;" in body


def test_over_long_search_and_malformed_paging_are_400(client):
    assert client.get("/customers", query_string={"q": "a" * 101}).status_code == 400
    assert client.get("/customers?after=abc").status_code == 400
    assert client.get("/customers?after=1%20OR%201=1").status_code == 400
    assert client.get("/customers?after=3&before=9").status_code == 400


def test_each_list_page_is_in_the_audit_log_with_the_ids_shown(client, rendered, db_path):
    client.get("/customers")
    shown = [r["id"] for r in rendered[-1][1]["page"].rows]
    reads = audit_entries(db_path, purpose=LIST_PURPOSE, action="read")
    assert reads, "the list's read must be audited"
    assert set(shown) <= set(reads[-1].row_ids)
    assert "customers.email" in reads[-1].columns


def test_record_without_purpose_shows_no_personal_data(client, rendered, db_path):
    person = customer(db_path, 5)
    before = len(audit_entries(db_path))
    response = client.get("/customers/5")
    assert response.status_code == 200
    assert rendered[-1][0] == "customer_purpose.html"
    body = response.get_data(as_text=True)
    for field in ("first_name", "last_name", "email", "phone", "street", "postcode", "iban"):
        if person[field]:
            assert person[field] not in body, field
    assert 'name="purpose"' in body and "Why are you opening this record?" in body
    assert len(audit_entries(db_path)) == before  # nothing personal was read


def test_record_under_a_purpose_shows_only_its_columns_and_is_audited(client, rendered, db_path):
    person = customer(db_path, 5)
    response = client.get("/customers/5?purpose=newsletter")
    assert response.status_code == 200
    name, context = rendered[-1]
    assert name == "customer_record.html"
    sections = {s.table: s.columns for s in context["record"].sections}
    assert set(sections["customers"]) == {"id", "first_name", "email"}
    assert "orders" not in sections and "invoices" not in sections
    body = response.get_data(as_text=True)
    assert person["email"] in body
    assert person["last_name"] not in body and person["street"] not in body
    reads = audit_entries(db_path, purpose="newsletter", customer_id=5)
    assert reads and reads[-1].action == "read"


def test_record_under_order_fulfilment_includes_orders(client, rendered):
    client.get("/customers/5?purpose=order_fulfilment")
    tables = [s.table for s in rendered[-1][1]["record"].sections]
    assert "customers" in tables and "orders" in tables


def test_record_refusals(client):
    assert client.get("/customers/5?purpose=no_such_purpose").status_code == 400
    internal = client.get("/customers/5?purpose=dsr_erasure")
    assert internal.status_code == 403
    assert "internal" in internal.get_data(as_text=True)
    assert client.get("/customers/999999").status_code == 404
    assert client.get("/customers/999999?purpose=customer_service").status_code == 404
    assert client.get("/customers/99999999999999999999999999").status_code == 404
    assert client.get("/customers/abc").status_code == 404
    assert client.get("/customers/5?purpose=" + "x" * 65).status_code == 400


def test_markup_stored_in_a_customer_is_shown_as_text(client, db_path):
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE customers SET first_name = ?, city = ? WHERE id = 1",
                     (HOSTILE, "<b>bold</b>"))
    for url in ("/customers", "/customers/1?purpose=customer_service"):
        body = client.get(url).get_data(as_text=True)
        assert HOSTILE not in body and "<b>bold</b>" not in body
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


def test_consent_ledger_shows_events_and_the_derived_state(client, rendered, db_path):
    with sqlite3.connect(db_path) as conn:
        customer_id = conn.execute(
            "SELECT customer_id FROM consent_events ORDER BY id LIMIT 1").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM consent_events WHERE customer_id = ?",
                              (customer_id,)).fetchone()[0]
    response = client.get(f"/customers/{customer_id}/consents")
    assert response.status_code == 200
    name, context = rendered[-1]
    assert name == "consent_ledger.html"
    assert len(context["events"]) == events
    assert "newsletter" in context["decisions"]
    assert client.get("/customers/999999/consents").status_code == 404


def test_search_pages_in_name_order_forward_and_back(client, rendered, db_path):
    with sqlite3.connect(db_path) as conn:
        prefix = conn.execute(
            "SELECT substr(last_name, 1, 1) AS p FROM customers GROUP BY p "
            "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        expected = [r[0] for r in conn.execute(
            "SELECT id FROM customers WHERE last_name LIKE ? "
            "ORDER BY last_name COLLATE NOCASE, id", (prefix + "%",))]
    assert len(expected) > 2 * PAGE_SIZE
    seen, after = [], None
    for _ in range(3):
        client.get("/customers", query_string={"q": prefix, "by": "last_name",
                                               **({"after": after} if after else {})})
        page = rendered[-1][1]["page"]
        seen += [r["id"] for r in page.rows]
        after = page.next_after
    assert seen == expected[:len(seen)] and len(seen) == 3 * PAGE_SIZE
    client.get("/customers", query_string={"q": prefix, "before": seen[2 * PAGE_SIZE]})
    assert [r["id"] for r in rendered[-1][1]["page"].rows] == seen[PAGE_SIZE:2 * PAGE_SIZE]
    assert client.get("/customers", query_string={"q": "a", "by": "iban"}).status_code == 400
