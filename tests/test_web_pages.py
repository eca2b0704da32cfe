"""Back-office pages: dashboard, orders, invoices, register, storage, audit log, time control."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pytest

from sandbox_cms.cms import open_sandbox
from sandbox_cms.web import create_app


def token(client, url: str = "/time") -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def clock(db: Path) -> dt.datetime:
    with open_sandbox(db) as cms:
        return cms.clock.now()


def test_dashboard_counts_rows_and_lists_retention_due(client, rendered, db_path):
    response = client.get("/")
    assert response.status_code == 200
    name, context = rendered[-1]
    assert name == "dashboard.html"
    with sqlite3.connect(db_path) as conn:
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    assert context["counts"]["customers"] == customers
    assert context["verification"].ok
    later = client.get("/?at=2035-01-01")
    assert later.status_code == 200
    assert rendered[-1][1]["due_total"] >= context["due_total"]
    assert rendered[-1][1]["due_total"] > 0  # by 2035 the 2019 invoices have run out


@pytest.mark.parametrize("bad", ["2031-13-01", "tomorrow", "2031-1-1", "2031-02-30",
                                 "'; DROP TABLE meta; --"])
def test_malformed_dates_are_400(client, bad):
    response = client.get("/", query_string={"at": bad})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.get_data(as_text=True)


def test_orders_are_listed_under_order_fulfilment_and_filter_by_customer(client, rendered):
    response = client.get("/orders")
    assert response.status_code == 200
    assert rendered[-1][1]["page"].rows
    assert 'data-purpose="order_fulfilment"' in response.get_data(as_text=True)
    client.get("/orders?customer=3")
    assert {r["customer_id"] for r in rendered[-1][1]["page"].rows} == {3}
    assert client.get("/orders?customer=x").status_code == 400


def test_invoices_are_listed_under_invoicing_and_found_by_number(client, rendered, db_path):
    with sqlite3.connect(db_path) as conn:
        number = conn.execute("SELECT number FROM invoices WHERE id = 2").fetchone()[0]
    response = client.get("/invoices", query_string={"number": number})
    assert response.status_code == 200
    rows = rendered[-1][1]["page"].rows
    assert [r["number"] for r in rows] == [number]
    assert 'data-purpose="invoicing"' in response.get_data(as_text=True)
    assert client.get("/invoices", query_string={"number": "' OR '1'='1"}).status_code == 200
    assert rendered[-1][1]["page"].rows == []
    assert client.get("/invoices", query_string={"number": "9" * 41}).status_code == 400


def test_register_lists_every_purpose_with_ground_and_article(client, rendered):
    response = client.get("/register")
    assert response.status_code == 200
    purposes = {p.name for p in rendered[-1][1]["purposes"]}
    assert {"newsletter", "invoicing", "customer_service"} <= purposes
    body = response.get_data(as_text=True)
    assert "6(1)(a)" in body and "art. 30" in body
    assert 'data-rule="invoices"' in body


def test_storage_lists_locations_and_transfer_verdicts(client, rendered):
    response = client.get("/storage")
    assert response.status_code == 200
    context = rendered[-1][1]
    assert context["locations"]
    assert all(hasattr(t, "lawful") for t in context["transfers"])


def test_audit_log_filters_and_shows_chain_status(client, rendered, db_path):
    client.get("/customers/4?purpose=warranty")
    response = client.get("/audit?purpose=warranty&customer=4")
    assert response.status_code == 200
    context = rendered[-1][1]
    assert context["entries"] and all(e.purpose == "warranty" for e in context["entries"])
    assert context["verification"].ok
    assert 'data-audit-ok="yes"' in response.get_data(as_text=True)
    assert client.get("/audit?purpose=nonsense").status_code == 400
    assert client.get("/audit?customer=-1").status_code == 400


def test_audit_page_shows_a_broken_chain(client, db_path):
    client.get("/customers/4?purpose=warranty")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 1")
    body = client.get("/audit").get_data(as_text=True)
    assert 'data-audit-ok="no"' in body


def test_time_control_moves_the_clock_forward_and_sets_a_date(client, db_path):
    start = clock(db_path)
    response = client.post("/time", data={"action": "advance", "days": "30",
                                          "csrf_token": token(client)})
    assert response.status_code == 303
    assert clock(db_path) == start + dt.timedelta(days=30)
    client.post("/time", data={"action": "set", "date": "2031-01-01",
                               "csrf_token": token(client)})
    assert clock(db_path).date() == dt.date(2031, 1, 1)
    assert "2031-01-01" in client.get("/time").get_data(as_text=True)


def test_time_control_refuses_bad_input_and_keeps_the_clock(client, db_path):
    start = clock(db_path)
    csrf = token(client)
    cases = [
        {"action": "set", "date": "2031-02-30"},
        {"action": "set", "date": ""},
        {"action": "advance", "days": "-3"},
        {"action": "advance", "days": "many"},
        {"action": "travel"},
        {"action": "set", "date": "2001-01-01"},  # backwards
    ]
    for form in cases:
        response = client.post("/time", data={**form, "csrf_token": csrf})
        assert response.status_code == 400, form
        assert "Traceback" not in response.get_data(as_text=True)
    assert clock(db_path) == start


def test_retention_is_carried_out_from_the_dashboard(client, rendered, db_path):
    client.post("/time", data={"action": "set", "date": "2033-01-01",
                               "csrf_token": token(client)})
    client.get("/")
    due = rendered[-1][1]["due_total"]
    assert due > 0
    response = client.post("/retention/apply", data={"csrf_token": token(client, "/")})
    assert response.status_code == 200
    name, context = rendered[-1]
    assert name == "retention_applied.html"
    assert sum(context["counts"].values()) == due
    client.get("/")
    assert rendered[-1][1]["due_total"] == 0
    assert client.post("/retention/apply").status_code == 400  # no CSRF token


def test_back_office_reads_are_audited_as_the_web_actor(client, db_path):
    client.get("/orders")
    with open_sandbox(db_path) as cms:
        entry = cms.audit.entries(purpose="order_fulfilment", newest_first=True, limit=1)[0]
    assert entry.actor == "web" and entry.action == "read"


def test_a_vanished_database_gives_an_error_page_and_frees_the_server(db_path, tmp_path):
    from sandbox_cms.web.sandbox import EXTENSION

    moved = tmp_path / "elsewhere.db"
    app = create_app(db_path)
    db_path.rename(moved)
    client = app.test_client()
    for _ in range(2):  # a second request must not wait for a lock the first one kept
        response = client.get("/customers")
        assert response.status_code == 400
        assert "no such sandbox" in response.get_data(as_text=True)
    assert not app.extensions[EXTENSION].lock.locked()
