"""Data-subject requests: export (art. 15), erasure (art. 17) and the confirmed request flow."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main
from sandbox_cms.cms import Sandbox, open_sandbox
from sandbox_cms.core.errors import RequestError, UnknownCustomer
from sandbox_cms.data.guard import make_iban

# A planted customer whose values appear nowhere else, so a search for them is exact.
PERSON = {
    "first_name": "Quirijn", "last_name": "Xylofoonberg", "email": "quirijn.xylo@example.test",
    "phone": "+31 6 99887766", "street": "Zebrastraat", "house_number": "77",
    "postcode": "9999 ZZ", "city": "Qwertystad", "iban": make_iban("XMPL", 4455667788),
}
BILLING = {
    "billing_name": "Quirijn Xylofoonberg", "billing_street": "Zebrastraat 77",
    "billing_postcode": "9999 ZZ", "billing_city": "Qwertystad",
}
# What must vanish: name, e-mail, phone, street, postcode + house number, IBAN.
IDENTIFYING = ["Quirijn", "Xylofoonberg", "quirijn.xylo@example.test", "99887766",
               "Zebrastraat", "9999 ZZ", PERSON["iban"], "Qwertystad"]


@contextlib.contextmanager
def _raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection beside the CMS (no purpose gate), committed and closed after."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _plant(cms: Sandbox) -> tuple[int, dict[str, int]]:
    """Insert the planted customer with an old, a recent and a cancelled order (an import)."""
    with _raw(cms.path) as raw:
        cid = raw.execute(
            "INSERT INTO customers (first_name, last_name, email, phone, street, house_number,"
            " postcode, city, country, birth_date, iban, company, created_at, closed_at,"
            " provenance_id) VALUES (:first_name, :last_name, :email, :phone, :street,"
            " :house_number, :postcode, :city, 'NL', '1980-05-05', :iban, NULL,"
            " '2017-02-01T10:00:00', NULL, 1)", PERSON).lastrowid
        ids = {}
        for name, day, status in (("old", "2017-03-01", "delivered"),
                                  ("recent", "2024-06-01", "delivered"),
                                  ("cancelled", "2024-07-01", "cancelled")):
            order = raw.execute(
                "INSERT INTO orders (customer_id, ordered_at, status, total_cents, provenance_id)"
                " VALUES (?, ?, ?, 19900, 1)", (cid, f"{day}T12:00:00", status)).lastrowid
            raw.execute("INSERT INTO order_items (order_id, product_id, quantity,"
                        " unit_price_cents) VALUES (?, 1, 1, 19900)", (order,))
            ids[f"{name}_order"] = order
            if status != "cancelled":
                ids[f"{name}_invoice"] = raw.execute(
                    "INSERT INTO invoices (number, order_id, customer_id, issued_at, billing_name,"
                    " billing_street, billing_postcode, billing_city, amount_cents, vat_cents,"
                    " provenance_id) VALUES (:number, :order, :cid, :day, :billing_name,"
                    " :billing_street, :billing_postcode, :billing_city, 19900, 3454, 1)",
                    {"number": f"T-{name}", "order": order, "cid": cid, "day": day, **BILLING},
                ).lastrowid
    return cid, ids


def _live_with(cms: Sandbox, cid: int) -> None:
    """Use the planted customer the way the shop does, so their traces spread."""
    cms.consent.record(cid, "newsletter", "granted", "newsletter-v2", "separate_checkbox",
                       "checkout")
    with cms.processing("newsletter") as p:
        p.query("SELECT id, first_name, email FROM customers WHERE email = ?", (PERSON["email"],))
        p.send_mailing([cid], subject="Spring offers")
    with cms.processing("antipiracy_sharing") as p:
        p.share(recipient="anti-piracy foundation", customer_ids=[cid],
                columns=["customers.email", "customers.first_name"])
    with cms.processing("customer_service") as p:
        p.query("SELECT id, first_name, last_name, email, phone, street, house_number,"
                " postcode, city FROM customers WHERE id = ?", (cid,))
    token = cms.dsr.request("export", PERSON["email"])
    cms.dsr.carry_out(cms.dsr.confirm(token))


def _traces(path: Path, needles: list[str]) -> set[tuple[str, str, int]]:
    """(table, column, rowid) of every value in every table that contains one of ``needles``."""
    found = set()
    lowered = [n.lower() for n in needles]
    with _raw(path) as raw:
        tables = [r[0] for r in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            columns = [r[1] for r in raw.execute(f'PRAGMA table_info("{table}")')]
            for row in raw.execute(f'SELECT rowid, * FROM "{table}"'):
                for column, value in zip(columns, row[1:], strict=True):
                    text = str(value).lower() if value is not None else ""
                    if any(n in text for n in lowered):
                        found.add((table, column, row[0]))
    return found


def _tables_digest(path: Path, skip: tuple[str, ...] = ("audit_log", "meta")) -> str:
    digest = hashlib.sha256()
    with _raw(path) as raw:
        for (table,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                    " ORDER BY name"):
            if table in skip:
                continue
            for row in raw.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                digest.update(repr(row).encode())
    return digest.hexdigest()


# -- erasure leaves no trace ------------------------------------------------------------------


def test_erasure_leaves_no_trace_but_the_retained_invoice_fields(cms: Sandbox) -> None:
    cid, ids = _plant(cms)
    _live_with(cms, cid)
    cms.flush()
    before = _traces(cms.path, IDENTIFYING)
    # The search works: the person is in many places before the erasure.
    assert {t for t, _, _ in before} >= {"customers", "invoices", "dsr_outbox"}

    token = cms.dsr.request("erase", PERSON["email"])
    request_id = cms.dsr.confirm(token)
    report = cms.dsr.carry_out(request_id)
    cms.close()

    retained = {(item.table, column, item.row_id)
                for item in report.retained for column in item.columns}
    after = _traces(cms.path, IDENTIFYING)
    assert after, "the recent invoice keeps its billing name and address (AWR art. 52)"
    assert after <= retained, f"traces outside the retained invoice fields: {after - retained}"
    assert {item.row_id for item in report.retained} == {ids["recent_invoice"]}
    assert all("17(3)(b)" in item.reason for item in report.retained)


def test_erased_values_are_not_left_in_the_database_file(cms: Sandbox) -> None:
    _plant(cms)
    cms.connection.execute("PRAGMA secure_delete = OFF")  # as on builds without the default
    cms.dsr.erase(PERSON["email"])
    cms.close()
    content = cms.path.read_bytes()
    for value in (PERSON["email"], PERSON["phone"], PERSON["iban"]):
        assert value.encode() not in content, value


def test_what_erasure_removes_keeps_and_reports(cms: Sandbox) -> None:
    cid, ids = _plant(cms)
    _live_with(cms, cid)
    report = cms.dsr.erase(PERSON["email"])
    removed = {(item.table, item.row_id): item.action for item in report.removed}
    assert removed[("customers", cid)] == "deleted"
    assert removed[("invoices", ids["old_invoice"])] == "deleted"  # seven years are over
    assert removed[("orders", ids["old_order"])] == "deleted"
    assert removed[("orders", ids["cancelled_order"])] == "deleted"
    assert removed[("orders", ids["recent_order"])] == "anonymised"
    assert report.notify == ["anti-piracy foundation"]  # art. 19
    with _raw(cms.path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM customers WHERE id = ?", (cid,)).fetchone() == (0,)
        for table in ("orders", "invoices", "consent_events", "mailing_recipients",
                      "disclosures", "dsr_requests"):
            left = raw.execute(f"SELECT COUNT(*) FROM {table} WHERE customer_id = ?", (cid,))
            assert left.fetchone() == (0,), table
        invoice = raw.execute("SELECT customer_id, order_id, billing_name FROM invoices"
                              " WHERE id = ?", (ids["recent_invoice"],)).fetchone()
        assert invoice == (None, ids["recent_order"], BILLING["billing_name"])
        status, report_json = raw.execute(
            "SELECT status, report FROM dsr_requests WHERE kind = 'erase'"
            " ORDER BY id DESC LIMIT 1").fetchone()
    assert status == "completed"
    stored = json.loads(report_json)
    assert stored == report.to_dict()
    assert not any(n.lower() in report_json.lower() for n in IDENTIFYING)
    erase = cms.audit.entries(action="erase", customer_id=cid)
    assert erase and erase[-1].purpose == "dsr_erasure"
    assert cms.audit.verify().ok


def test_erasing_an_unknown_email_changes_nothing(cms: Sandbox) -> None:
    before = _tables_digest(cms.path)
    for address in ("nobody@example.com", "", "   "):
        with pytest.raises(UnknownCustomer, match="no customer with that e-mail"):
            cms.dsr.erase(address)
        with pytest.raises(UnknownCustomer):
            cms.dsr.export(address)
        with pytest.raises(UnknownCustomer):
            cms.dsr.request("erase", address)
    assert _tables_digest(cms.path) == before


# -- export -----------------------------------------------------------------------------------


def test_export_holds_everything_about_the_person_and_nobody_else(cms: Sandbox) -> None:
    cid, ids = _plant(cms)
    _live_with(cms, cid)
    data = cms.dsr.export(PERSON["email"].upper())  # addresses match case-insensitively
    json.dumps(data)  # machine-readable (art. 20)
    assert data["customer"]["id"] == cid and data["customer"]["iban"] == PERSON["iban"]
    assert {o["id"] for o in data["orders"]} == {ids["old_order"], ids["recent_order"],
                                                 ids["cancelled_order"]}
    assert all(o["items"] and o["items"][0]["sku"] for o in data["orders"])
    assert {i["id"] for i in data["invoices"]} == {ids["old_invoice"], ids["recent_invoice"]}
    assert [e["purpose"] for e in data["consent_events"]] == ["newsletter"]
    assert "newsletter" in data["consent_events"][0]["text_shown"]  # the exact text, 7(1)
    assert data["source"]["source"] == "generator"
    assert [m["subject"] for m in data["mailings_received"]] == ["Spring offers"]
    assert data["disclosures"][0]["recipient"] == "anti-piracy foundation"
    assert data["disclosures"][0]["columns"] == ["customers.email", "customers.first_name"]
    assert {a["action"] for a in data["audit_trail"]} >= {"send_mailing", "share", "read"}
    assert [r["kind"] for r in data["requests"]] == ["export"]
    assert {p["name"] for p in data["purposes"]} >= {"newsletter", "invoicing"}
    assert data["retention_rules"] and data["storage_locations"]
    text = json.dumps(data)
    with _raw(cms.path) as raw:
        other = raw.execute("SELECT email FROM customers WHERE id != ? LIMIT 1",
                            (cid,)).fetchone()[0]
    assert other not in text
    assert cms.audit.entries(action="export", customer_id=cid)


# -- the request flow -------------------------------------------------------------------------


def test_request_confirm_carry_out_export(cms: Sandbox) -> None:
    cid, _ = _plant(cms)
    token = cms.dsr.request("export", PERSON["email"])
    mail = cms.dsr.outbox()[0]
    assert mail.to_address == PERSON["email"] and token in mail.body
    request = cms.dsr.requests()[0]
    assert (request.kind, request.status, request.customer_id) == (
        "export", "awaiting_confirmation", cid)
    with pytest.raises(RequestError, match="only a confirmed request"):
        cms.dsr.carry_out(request.id)
    with pytest.raises(RequestError, match="unknown confirmation code"):
        cms.dsr.confirm("not-the-token")
    assert cms.dsr.confirm(token) == request.id
    with pytest.raises(RequestError, match="already confirmed"):
        cms.dsr.confirm(token)
    data = cms.dsr.carry_out(request.id)
    assert data["customer"]["email"] == PERSON["email"]
    done = cms.dsr.get(request.id)
    assert done.status == "completed" and done.report["orders"] == 3
    with pytest.raises(RequestError, match="completed"):
        cms.dsr.carry_out(request.id)


def test_an_erasure_request_clears_the_address_from_the_outbox(cms: Sandbox) -> None:
    _plant(cms)
    token = cms.dsr.request("erase", PERSON["email"])
    request_id = cms.dsr.confirm(token)
    report = cms.dsr.carry_out(request_id)
    assert report.removed
    mails = cms.dsr.outbox(request_id)
    assert len(mails) == 2 and {m.to_address for m in mails} == {None}
    assert "done" in mails[0].subject
    request = cms.dsr.get(request_id)
    assert request.status == "completed" and request.customer_id is None


def test_a_confirmation_code_expires_after_a_week(cms: Sandbox) -> None:
    _plant(cms)
    token = cms.dsr.request("erase", PERSON["email"])
    cms.clock.advance(days=8)
    with pytest.raises(RequestError, match="expired"):
        cms.dsr.confirm(token)
    assert cms.dsr.requests()[0].status == "expired"


def test_bad_request_input(cms: Sandbox) -> None:
    with pytest.raises(RequestError, match="'export' or 'erase'"):
        cms.dsr.request("rectify", "someone@example.com")
    with pytest.raises(RequestError, match="no request with id"):
        cms.dsr.carry_out(999)


# -- CLI --------------------------------------------------------------------------------------


def test_cli_export_and_erase(cms: Sandbox, tmp_path: Path) -> None:
    cid, _ = _plant(cms)
    cms.close()
    runner = CliRunner()
    out = tmp_path / "export.json"
    result = runner.invoke(main, ["dsr", "export", "--db", str(cms.path), "--email",
                                  PERSON["email"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["customer"]["id"] == cid
    result = runner.invoke(main, ["dsr", "erase", "--db", str(cms.path), "--email",
                                  PERSON["email"]])
    assert result.exit_code == 0, result.output
    assert "removed: 1 customers deleted" in result.output
    assert "retained: invoices" in result.output and "17(3)(b)" in result.output
    with open_sandbox(cms.path) as again, pytest.raises(UnknownCustomer):
        again.dsr.export(PERSON["email"])


@pytest.mark.parametrize("command", ["export", "erase"])
def test_cli_unknown_email_is_a_one_line_error(db_path: Path, command: str) -> None:
    result = CliRunner().invoke(main, ["dsr", command, "--db", str(db_path), "--email",
                                       "nobody@example.com"])
    assert result.exit_code == 1
    assert "no customer with that e-mail" in result.output and "Traceback" not in result.output


def test_cli_export_of_a_value_slipped_in_as_a_blob_is_still_json(cms: Sandbox) -> None:
    cid, _ = _plant(cms)
    cms.close()
    with _raw(cms.path) as raw:
        raw.execute("UPDATE customers SET company = x'00ff' WHERE id = ?", (cid,))
    result = CliRunner().invoke(main, ["dsr", "export", "--db", str(cms.path), "--email",
                                       PERSON["email"]])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert json.loads(result.output)["customer"]["company"] == "x'00ff'"
