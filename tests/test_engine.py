"""The reference engine answers from the sandbox's own mechanisms, and reads without a trace."""

from __future__ import annotations

import datetime as dt

import pytest

from grading import engine
from sandbox_cms.cms import open_sandbox


@pytest.fixture
def cms(db_path):
    sandbox = open_sandbox(db_path, mode="record")
    yield sandbox
    sandbox.close()


def _audit_count(cms) -> int:
    return engine.read(cms, "SELECT COUNT(*) AS n FROM audit_log")[0]["n"]


def test_grader_reads_leave_no_audit_entry(cms):
    before = _audit_count(cms)
    assert engine.read(cms, "SELECT COUNT(*) AS n FROM customers")[0]["n"] > 0
    engine.production_values(cms)
    engine.mailings(cms)
    assert _audit_count(cms) == before


def test_eligible_customers_agree_with_the_ledger_one_by_one(cms):
    eligible = engine.eligible_customers(cms, "newsletter")
    ids = [r["id"] for r in engine.read(cms, "SELECT id FROM customers ORDER BY id LIMIT 400")]
    decisions = engine.consent_decisions(cms, ids, "newsletter")
    assert {c for c, d in decisions.items() if d.allowed} == eligible & set(ids)
    assert 0 < len(eligible & set(ids)) < len(ids)  # some may, some may not: a real test
    refused = [d for d in decisions.values() if not d.allowed]
    assert all(d.reason for d in refused)


def test_consent_is_judged_at_a_moment(cms):
    early = dt.datetime(2019, 1, 2)
    assert engine.eligible_customers(cms, "newsletter", at=early) == set()


def test_mailings_lists_recipients_since_a_mark(cms):
    mark = engine.last_mailing_id(cms)
    ids = sorted(engine.eligible_customers(cms, "newsletter"))[:3]
    with cms.processing("newsletter") as p:
        mailing = p.send_mailing(ids, subject="Test")
    sent = engine.mailings(cms, mark)
    assert [m["id"] for m in sent] == [mailing]
    assert sent[0]["recipients"] == set(ids) and sent[0]["purpose"] == "newsletter"


def test_purpose_columns_come_from_the_register(cms):
    assert "customers.email" in engine.purpose_columns(cms, "newsletter")
    assert "customers.iban" not in engine.purpose_columns(cms, "newsletter")
    assert engine.purpose_columns(cms, "no-such-purpose") == frozenset()


def test_invoices_under_duty_are_the_recent_ones(cms):
    now = engine.now(cms)
    kept = engine.invoices_under_duty(cms, now)
    rows = engine.read(cms, "SELECT id, issued_at FROM invoices")
    assert kept == {r["id"] for r in rows}  # the shop is younger than seven years
    much_later = now + dt.timedelta(days=9 * 366)
    assert engine.invoices_under_duty(cms, much_later) == set()


def test_production_values_describe_their_record(cms):
    values = engine.production_values(cms, ["email"])
    row = engine.read(cms, "SELECT id, email FROM customers ORDER BY id LIMIT 1")[0]
    assert values[row["email"].lower()] == f"customer {row['id']}'s email"
    assert engine.production_values(cms, ["not_a_column"]) == {}


def test_transfers_and_audit_come_from_the_sandbox(cms):
    findings = engine.transfer_findings(cms)
    assert all(hasattr(f, "lawful") for f in findings)
    assert engine.audit_verification(cms).ok


def test_retention_checks_on_a_real_schedule(cms):
    from grading.checks import PrincipleViolation, check_kept, check_nothing_overdue

    due = engine.overdue(cms)
    assert due, "the webshop scenario should have data past its period"
    with pytest.raises(PrincipleViolation, match=r"^Storage limitation \(art. 5\(1\)\(e\)") as info:
        check_nothing_overdue(due)
    assert f"{due[0].table} row {due[0].row_id} (rule {due[0].rule})" in str(info.value)

    required = {"invoices": engine.invoices_under_duty(cms)}
    cms.retention.apply()
    check_nothing_overdue(engine.overdue(cms))
    check_kept({"invoices": engine.existing_ids(cms, "invoices")}, required)

    victim = min(required["invoices"])
    with cms.processing("invoicing") as p:
        p.delete("invoices", [victim])
    with pytest.raises(PrincipleViolation, match=rf"invoices row {victim} was deleted"):
        check_kept({"invoices": engine.existing_ids(cms, "invoices")}, required)
