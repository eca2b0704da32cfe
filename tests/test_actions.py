"""Actions: send a mailing, share, export, delete, anonymise — checked, done, audited."""

from __future__ import annotations

import json

import pytest

from sandbox_cms import open_sandbox
from sandbox_cms.core.errors import ProcessingError, PurposeViolation, UnknownCustomer


@pytest.fixture
def recording(db_path):
    with open_sandbox(db_path, mode="record") as sandbox:
        yield sandbox


def _count(cms, sql, params=()):
    with cms.gate.lifted():
        return cms.connection.execute(sql, params).fetchone()[0]


def test_send_mailing_writes_the_mailing_and_its_recipients(cms):
    with cms.processing("newsletter") as p:
        mailing_id = p.send_mailing([3, 1, 2, 3], subject="Spring offers")
    assert _count(cms, "SELECT count(*) FROM mailing_recipients WHERE mailing_id = ?",
                  (mailing_id,)) == 3
    with cms.gate.lifted():
        purpose, sent_at = cms.connection.execute(
            "SELECT purpose, sent_at FROM mailings WHERE id = ?", (mailing_id,)).fetchone()
    assert (purpose, sent_at) == ("newsletter", "2025-03-01T09:00:00")
    (entry,) = cms.audit.entries(action="send_mailing")
    assert entry.row_ids == (1, 2, 3) and entry.purpose == "newsletter"
    assert entry.detail == {"mailing_id": mailing_id, "recipients": 3}
    assert "customers.email" in entry.columns


def test_a_mailing_under_a_purpose_without_email_is_refused(cms):
    with cms.processing("analytics") as p, pytest.raises(PurposeViolation, match="customers.email"):
        p.send_mailing([1], subject="Hello")
    assert _count(cms, "SELECT count(*) FROM mailings") == 0
    (refused,) = cms.audit.entries(action="refused")
    assert refused.detail["action"] == "send a mailing"


def test_in_record_mode_the_mailing_goes_out_and_the_violation_is_logged(recording):
    with recording.processing("analytics") as p:
        p.send_mailing([1], subject="Hello")
    assert [e.action for e in recording.audit.entries()] == ["violation", "send_mailing"]


@pytest.mark.parametrize(
    ("ids", "error", "match"),
    [
        ([1, 999_999], UnknownCustomer, "999999"),
        ([1, "2"], ProcessingError, "integers"),
        (5, ProcessingError, "list of customer ids"),
    ],
)
def test_bad_customer_ids_change_nothing(cms, ids, error, match):
    with cms.processing("newsletter") as p, pytest.raises(error, match=match):
        p.send_mailing(ids, subject="Hi")
    assert _count(cms, "SELECT count(*) FROM mailings") == 0
    assert not cms.audit.entries(action="send_mailing")


def test_an_empty_subject_is_refused(cms):
    with cms.processing("newsletter") as p, pytest.raises(ProcessingError, match="subject"):
        p.send_mailing([1], subject="  ")


def test_share_records_one_disclosure_per_customer(cms):
    columns = ["customers.email", "customers.first_name", "orders.id"]
    with cms.processing("antipiracy_sharing") as p:
        assert p.share("antipiracy-foundation", [4, 5], columns) == 2
    with cms.gate.lifted():
        rows = cms.connection.execute(
            "SELECT customer_id, recipient, purpose, columns FROM disclosures").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (4, "antipiracy-foundation", "antipiracy_sharing"),
        (5, "antipiracy-foundation", "antipiracy_sharing")]
    assert json.loads(rows[0][3]) == sorted(columns)
    (entry,) = cms.audit.entries(action="share")
    assert entry.row_ids == (4, 5) and entry.detail == {"recipient": "antipiracy-foundation"}


def test_sharing_columns_outside_the_purpose_is_refused(cms):
    with cms.processing("antipiracy_sharing") as p, pytest.raises(
            PurposeViolation, match="customers.street"):
        p.share("antipiracy-foundation", [4], ["customers.email", "customers.street"])
    assert _count(cms, "SELECT count(*) FROM disclosures") == 0


def test_export_returns_the_columns_per_customer_and_logs_it(cms):
    with cms.processing("customer_service") as p:
        data = p.export([2, 1], ["customers.email", "orders.ordered_at", "order_items.quantity"])
    assert [d["customer_id"] for d in data] == [1, 2]
    assert "@" in data[0]["email"] and set(data[0]) >= {"email", "orders", "order_items"}
    assert set(data[0]["orders"][0]) == {"ordered_at"}
    (entry,) = cms.audit.entries(action="export")
    assert entry.row_ids == (1, 2)
    with cms.gate.lifted():
        text = " ".join(str(v) for row in cms.connection.execute("SELECT * FROM audit_log")
                        for v in row)
    assert data[0]["email"] not in text


@pytest.mark.parametrize(
    ("columns", "error", "match"),
    [
        (["customers.iban"], PurposeViolation, "customers.iban"),
        (["customers.shoe_size"], ProcessingError, "no column 'shoe_size'"),
        (["products.name"], ProcessingError, "no customer link"),
        ([], ProcessingError, "at least one column"),
    ],
)
def test_bad_exports_are_refused(cms, columns, error, match):
    with cms.processing("customer_service") as p, pytest.raises(error, match=match):
        p.export([1], columns)
    assert not cms.audit.entries(action="export")


def test_delete_needs_the_whole_row_in_the_purpose(cms):
    with cms.gate.lifted():
        order_id, customer = cms.connection.execute(
            "SELECT id, customer_id FROM orders ORDER BY id LIMIT 1").fetchone()
    with cms.processing("newsletter") as p, pytest.raises(PurposeViolation):
        p.delete("orders", [order_id])
    with cms._internal("retention_enforcement", "retention") as p:
        assert p.delete("orders", [order_id]) == 1
        with pytest.raises(ProcessingError, match="no orders row with id"):
            p.delete("orders", [order_id])
        with pytest.raises(ProcessingError, match="only be changed by the CMS"):
            p.delete("audit_log", [1])
    assert _count(cms, "SELECT count(*) FROM orders WHERE id = ?", (order_id,)) == 0
    (entry,) = cms.audit.entries(action="delete")
    assert entry.row_ids == (customer,) and entry.detail == {"rows": 1, "ids": [order_id]}


def test_anonymise_removes_identifying_data_and_keeps_the_record(cms):
    with cms._internal("dsr_access", "dsr") as p:
        (before,) = p.query("SELECT * FROM customers WHERE id = 7")
    with cms._internal("dsr_erasure", "dsr") as p:
        assert p.anonymise([7]) == 1
        (after,) = p.query("SELECT * FROM customers WHERE id = 7")
    assert after["email"] == "anonymised-7@anonymised.invalid"
    assert before["last_name"] and before["street"]
    for column in ("last_name", "phone", "street", "postcode", "birth_date", "iban"):
        assert after[column] in (None, ""), column
    assert after["created_at"] == before["created_at"]
    (entry,) = cms.audit.entries(action="anonymise")
    assert entry.row_ids == (7,) and entry.purpose == "dsr_erasure"


def test_anonymise_under_a_narrow_purpose_is_refused(cms):
    with cms.processing("customer_service") as p, pytest.raises(PurposeViolation):
        p.anonymise([7])
    assert _count(cms, "SELECT count(*) FROM customers WHERE email LIKE 'anonymised-%'") == 0


def test_actions_keep_the_audit_chain_intact(cms):
    with cms.processing("newsletter") as p:
        p.query("SELECT id FROM customers LIMIT 2")
        p.send_mailing([1, 2], subject="A")
        p.query("SELECT id FROM customers LIMIT 3")
    assert [e.action for e in cms.audit.entries()] == ["read", "send_mailing", "read"]
    assert cms.audit.verify().ok
