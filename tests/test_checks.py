"""The policy checks: each passes on lawful data and fails naming principle, article, records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from grading import checks
from grading.checks import PrincipleViolation
from grading.principles import load_principles, principle
from sandbox_cms.core.errors import CourseError


@dataclass
class Decision:
    allowed: bool
    reason: str


def test_violation_is_an_assertion_error_naming_principle_article_and_records():
    exc = PrincipleViolation(
        "consent",
        "2 customers received the mailing without valid consent",
        ["customer 812 withdrew newsletter consent on 2025-03-02", "customer 97: pre-ticked box"],
        article="art. 7(3) GDPR",
    )
    assert isinstance(exc, AssertionError)
    assert exc.principle == "consent"
    assert str(exc) == (
        "Consent (art. 7(3) GDPR): 2 customers received the mailing without valid consent: "
        "customer 812 withdrew newsletter consent on 2025-03-02; customer 97: pre-ticked box."
    )


def test_violation_shows_at_most_three_records():
    exc = PrincipleViolation("minimisation", "too much", [f"row {i}" for i in range(7)])
    assert "row 2" in str(exc) and "row 3" not in str(exc)
    assert str(exc).endswith("and 4 more.")


def test_a_500_record_failure_stays_short_and_counts_the_rest():
    records = [f"customer {i} withdrew newsletter consent on 2025-03-02 " + "x" * 400
               for i in range(500)]
    exc = PrincipleViolation("consent", "500 customers had no valid consent " + "y" * 2000,
                             records)
    assert len(str(exc)) < 1600
    assert str(exc).endswith("\u2026 and 497 more.")
    assert "customer 0 " in str(exc) and "customer 3 " not in str(exc)
    hidden = exc.for_hidden()
    assert len(str(hidden)) < 900 and "customer (500\u00d7)" in str(hidden)


def test_ids_sort_as_numbers():
    assert checks.sorted_ids([100, 10, 2, "20", "a"]) == [2, 10, "20", 100, "a"]
    with pytest.raises(PrincipleViolation) as info:
        checks.check_rows({100, 10, 2}, set(), "your extract")
    assert "ids 2, 10, 100." in str(info.value)
    with pytest.raises(PrincipleViolation) as info:
        checks.check_complete(set(), set(range(1, 40)), "your mailing")
    assert str(info.value).endswith("ids 1, 2, 3, 4, 5 \u2026 and 34 more.")


def test_a_hidden_violation_names_the_principle_and_kinds_not_the_data():
    exc = PrincipleViolation(
        "synthetic_only", "2 values in your output come from the production sandbox, e.g. "
        "customer 812 ('Jan Jansen', jan.jansen@example.org) on 2026-03-02",
        ["row 3 holds customer 812's email ('jan.jansen@example.org')",
         "audit entry 41: export of customers.email", "column customers.iban"])
    hidden = exc.for_hidden()
    assert hidden.principle == "synthetic_only" and hidden.hidden
    text = str(hidden)
    assert text.startswith("Synthetic data only (")
    for secret in ("812", "Jansen", "jan.jansen", "2026-03-02", "41"):
        assert secret not in text, secret
    assert "records: row, audit entry, column customers.iban" in text
    assert exc.for_hidden() is not exc and hidden.for_hidden() is hidden


@pytest.mark.parametrize("problem, kept, gone", [
    ("decide each vendor's basis yourself, in Chapter V's order",
     "vendor's basis yourself, in Chapter V's order", ""),
    ("customers such as 5 were flagged", "customers … were flagged", " 5 "),
    ("the e-mail address jan@example.org is still in the sandbox", "address … is still",
     "example.org"),
    ("under purpose 'newsletter', not 'Jan Jansen'", "'newsletter'", "Jansen"),
    ("ids 3, 17 and 212 (and 4 more)", "ids …", "212"),
    ("sent on 2026-03-02T10:00:00+00:00", "sent on a date", "2026"),
    ("your function raised KeyError: 812 at line 9: rows[key]", "KeyError: … at line 9", "812"),
    ("your function raised ValueError: no mailing yet", "ValueError: no mailing yet", ""),
])
def test_redaction_keeps_the_sentence_and_drops_the_data(problem, kept, gone):
    text = checks.redact(problem)
    assert kept in text and (not gone or gone not in f" {text} "), text


def test_hidden_records_are_named_by_kind():
    assert checks.record_kind("customer 812 withdrew consent") == "customer"
    assert checks.record_kind("audit entry 41: export") == "audit entry"
    assert checks.record_kind("column customers.iban") == "column customers.iban"
    assert checks.record_kind("nimbus-backups in IS: IS is in the EEA") == "record"
    assert checks.record_kind("customer Jan's e-mail ('jan@example.org')") == "record"


def test_machine_paths_are_shortened_in_every_message():
    exc = PrincipleViolation("restorability", "there is no backup file at "
                             "/tmp/grading-02-restorable-x1/mounts/b/backup.db")
    assert "/tmp" not in str(exc) and "\u2026/backup.db" in str(exc)


def test_in_ipython_a_violation_is_one_line_and_the_rule():
    exc = PrincipleViolation("consent", "1 customer had no valid consent", ["customer 7"])
    assert exc._render_traceback_() == [
        f"PrincipleViolation: {exc.message}", f"The rule: {principle('consent').rule}"]


def test_unknown_principle_is_a_clear_error():
    with pytest.raises(CourseError, match="unknown principle 'privacy'"):
        PrincipleViolation("privacy", "x")


def test_principles_file_errors_name_file_and_key(tmp_path: Path):
    bad = tmp_path / "principles.toml"
    bad.write_text('[consent]\ntitle = "Consent"\narticle = ""\nrule = "r"\n')
    with pytest.raises(CourseError, match=r"principles.toml: key 'consent.article'"):
        load_principles(bad)
    bad.write_text("not toml [")
    with pytest.raises(CourseError, match="not valid TOML"):
        load_principles(bad)


def test_every_shipped_principle_cites_an_article():
    for key in ("purpose_limitation", "minimisation", "consent", "storage_limitation",
                "legal_retention", "transfers", "accountability", "synthetic_only"):
        assert "art." in principle(key).article or "Chapter" in principle(key).article


@pytest.mark.parametrize(
    ("value", "expected", "message"),
    [
        (None, list, "returned None (did you forget `return`?)"),
        ("1,2", list, "should be a list, but your function returned str"),
        ({"a": 1}, (list, tuple), "should be a list or tuple"),
    ],
)
def test_check_type_names_what_came_back(value, expected, message):
    with pytest.raises(PrincipleViolation, match=r"^The task") as info:
        checks.check_type(value, expected, "the return value")
    assert message in str(info.value)
    checks.check_type([1], list, "the return value")


def test_check_ids_refuses_non_integers_and_booleans():
    assert checks.check_ids([3, 1, 3], "ids") == {1, 3}
    for bad in (["1"], [True], [1.5]):
        with pytest.raises(PrincipleViolation, match="integer customer ids"):
            checks.check_ids(bad, "ids")


def test_check_rows_extra_rows_break_minimisation_missing_rows_break_the_task():
    checks.check_rows({1, 2}, {1, 2}, "your extract")
    with pytest.raises(PrincipleViolation, match=r"^Data minimisation \(art. 5\(1\)\(c\)") as info:
        checks.check_rows({1, 2, 9}, {1, 2}, "your extract")
    assert "ids 9" in str(info.value)
    with pytest.raises(PrincipleViolation, match=r"^The task.*misses 1 record.*ids 2"):
        checks.check_rows({1}, {1, 2}, "your extract")


def test_check_columns_names_the_extra_columns():
    checks.check_columns(["orders.id"], {"orders.id", "orders.total_cents"})
    with pytest.raises(PrincipleViolation, match="Data minimisation") as info:
        checks.check_columns(["orders.id", "customers.email"], {"orders.id"})
    assert "column customers.email" in str(info.value)
    with pytest.raises(PrincipleViolation, match="Purpose limitation"):
        checks.check_columns(["customers.iban"], set(), principle="purpose_limitation")


def _entry(seq, purpose="newsletter", action="read", actor="learner", detail=None):
    return {"seq": seq, "purpose": purpose, "action": action, "actor": actor,
            "table_name": "customers", "columns": '["customers.email"]', "detail": detail}


def test_check_purpose_log_flags_other_purposes_and_recorded_violations():
    checks.check_purpose_log([_entry(1), _entry(2, action="send_mailing")], "newsletter")
    with pytest.raises(PrincipleViolation, match=r"Purpose limitation \(art. 5\(1\)\(b\)") as info:
        checks.check_purpose_log([_entry(1), _entry(2, purpose="analytics")], "newsletter")
    assert "audit entry 2: read of customers.email under purpose 'analytics'" in str(info.value)
    # the shape the sandbox writes in record mode
    flagged = _entry(3, action="violation", detail='{"kinds": ["read"], "mode": "record"}')
    flagged["columns"] = '["customers.iban"]'
    with pytest.raises(PrincipleViolation) as info:
        checks.check_purpose_log([flagged], "newsletter")
    assert "audit entry 3: read of customers.iban outside purpose 'newsletter'" in str(info.value)
    refused = _entry(4, action="refused", detail={"kinds": ["action"], "action": "share"})
    with pytest.raises(PrincipleViolation, match="audit entry 4: share with customers.email"):
        checks.check_purpose_log([refused], "newsletter")


def test_check_consent_quotes_the_ledger_reason():
    decisions = {1: Decision(True, "granted"), 2: Decision(False, "withdrew on 2025-03-02 (7(3))")}
    checks.check_consent([1], decisions, "newsletter", "mailing 1")
    with pytest.raises(PrincipleViolation, match=r"^Consent") as info:
        checks.check_consent([1, 2, 3], decisions, "newsletter", "mailing 1")
    text = str(info.value)
    assert "2 customers in mailing 1 had no valid newsletter consent" in text
    assert "customer 2: withdrew on 2025-03-02 (7(3))" in text
    assert "customer 3: no valid consent on record" in text


def test_retention_checks():
    checks.check_nothing_overdue([])
    due = [{"table": "customers", "row_id": 7, "rule": "account", "reason": "last order 2021"}]
    overdue = r"Storage limitation.*customers row 7 \(rule account\)"
    with pytest.raises(PrincipleViolation, match=overdue):
        checks.check_nothing_overdue(due)
    checks.check_kept({"invoices": {1, 2, 3}}, {"invoices": {1, 2}})
    deleted = r"Legal retention duty \(art. 17\(3\)\(b\).*invoices row 2"
    with pytest.raises(PrincipleViolation, match=deleted):
        checks.check_kept({"invoices": {1}}, {"invoices": {1, 2}})


def test_check_transfers_lists_unlawful_destinations():
    ok = {"name": "backup-de", "country": "DE", "lawful": True}
    bad = {"name": "mail-us", "country": "US", "lawful": False, "reason": "not DPF-certified"}
    checks.check_transfers([ok])
    unlawful = r"International transfers.*mail-us in US: not DPF"
    with pytest.raises(PrincipleViolation, match=unlawful):
        checks.check_transfers([ok, bad])


def test_check_audit_intact():
    checks.check_audit_intact({"ok": True, "first_broken": None, "message": ""})
    with pytest.raises(PrincipleViolation, match=r"Accountability.*entry 5: hash mismatch"):
        checks.check_audit_intact({"ok": False, "first_broken": 5, "message": "hash mismatch"})
    with pytest.raises(PrincipleViolation, match=r"art. 5\(2\).*entry 9 is gone"):
        checks.check_audit_intact({"ok": True}, ["entry 9 is gone"])


def test_check_no_production_values_is_case_insensitive():
    prod = {"canary.kees@example.org": "customer 3's email"}
    checks.check_no_production_values([("customers row 1 email", "ann@example.com")], prod)
    leak = r"Synthetic data only.*customers row 1 email holds customer 3's email"
    with pytest.raises(PrincipleViolation, match=leak):
        checks.check_no_production_values([("customers row 1 email", "Canary.Kees@example.org")],
                                          prod)


def test_check_transfers_reads_the_storage_modules_verdicts():
    from sandbox_cms.privacy.storage import TransferCheck

    bad = TransferCheck(location="mail-service", kind="processor", country="IN",
                        mechanism="none", lawful=False, reason="no adequacy decision (art. 45)")
    with pytest.raises(PrincipleViolation, match=r"mail-service in IN: no adequacy decision"):
        checks.check_transfers([bad])
