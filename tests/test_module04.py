"""Module 04 (retention after the sale): every graded exercise proven.

The proofs every exercise shares (reference solutions, wrong answers, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py over one registry; this file holds what
is particular to the module. Together they prove:

- the reference solutions (taken from the source notebook) pass the visible and hidden test;
- plausible wrong answers (tests/fixtures/wrong_answers/m04_*.py) fail naming the right
  principle: a soft-delete flag, a hashed e-mail, deleting the invoices, leaving the id
  behind, forgetting the warranty or the newsletter, calling the reference itself;
- an answer hard-coded to the visible variant fails the hidden test;
- the setup plants what the exercises need (an expired and a recent invoice, receipts of
  withdrawn subscribers, invoices of accounts erased earlier) and the boundary of every rule
  in both variants: invoices of 31 Dec Y-8 (due) and of 1 Jan / 31 Dec Y-7 and exactly
  7 x 365 and 2557 days old (kept), a zero-total order, accounts due exactly now and a day
  later, a warranty ending now, a cancelled order inside what would be its warranty;
- the answers that get those boundaries wrong (days from the invoice date, year Y-7 deleted,
  `<` for `<=`, a cancelled order's warranty, the wall clock) fail on the hidden variant
  naming the principle, while the reference passes;
- the source notebook is a valid nbgrader source, and nbgrader gives the solution full
  marks and the untouched student version none.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from notebook_tools import (
    cell,
    full_marks_and_none,
    load,
    section,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, run
from grading.harness import close_attempt, open_variant

ASSIGNMENT = "04-retention"


# --- wrong answers --------------------------------------------------------------------

def test_the_three_erasure_implementations_get_three_verdicts() -> None:
    """Soft-delete flag: not erasure (17(1)); hashed e-mail: still personal (4(5)); real
    deletion that also removed the invoices: breaks the legal duty (17(3)(b))."""
    wrong = wrong_answers("m04_erasure_request")
    verdicts = {fn.__name__: run("04-erasure-request", fn, "visible").principle
                for fn in (wrong.soft_delete_flag, wrong.hash_the_email, wrong.delete_everything)}
    assert verdicts == {"soft_delete_flag": "erasure", "hash_the_email": "anonymisation",
                        "delete_everything": "legal_retention"}


def test_report_without_the_exception_or_with_wrong_ids_fails() -> None:
    reference = solution("04-erasure-request")

    def no_article(cms, p, email):
        return {k: "kept for the tax office" for k in reference(cms, p, email)}

    def extra_invoice(cms, p, email):
        return {**reference(cms, p, email), 999999: "art. 17(3)(b)"}

    outcome = run("04-erasure-request", no_article, "visible")
    assert outcome.principle == "legal_retention" and "17(3)(b)" in outcome.message
    outcome = run("04-erasure-request", extra_invoice, "visible")
    assert outcome.principle == "task" and "999999" in outcome.message
    outcome = run("04-erasure-request", lambda cms, p, email: None, "visible")
    assert outcome.principle == "task" and "should be a dict" in outcome.message


def test_erasing_someone_else_too_fails() -> None:
    """The handed-over context is for this request: erasing a second person through it is
    purpose limitation (5(1)(b)), named before the 'other customers disappeared' check."""
    reference = solution("04-erasure-request")

    def two_people(cms, p, email):
        kept = reference(cms, p, email)
        other = p.query("SELECT email FROM customers WHERE closed_at IS NULL"
                        " ORDER BY id DESC LIMIT 1")[0]["email"]
        reference(cms, p, other)
        return kept

    for variant in ("visible", "hidden"):
        outcome = run("04-erasure-request", two_people, variant)
        assert outcome.principle == "purpose_limitation", outcome.message
        assert "for this request only" in outcome.message


@pytest.mark.parametrize(("exercise_id", "module", "names"), [
    ("04-erasure-request", "m04_erasure_request",
     ("name_the_desk_actor", "export_another_customer", "erase_another_customer")),
    ("04-retention-job", "m04_retention_job",
     ("name_the_job_actor", "export_a_customer")),
])
def test_the_handed_over_context_only_serves_its_purpose(exercise_id, module, names) -> None:
    """Naming the internal actor yourself, or using the handed-over context for someone the
    task is not about, fails purpose limitation on the hidden variant."""
    wrong = wrong_answers(module)
    for name in names:
        outcome = run(exercise_id, getattr(wrong, name), "hidden")
        assert outcome.principle == "purpose_limitation", (name, outcome.message)


# --- hard-coded answers fail the hidden test ------------------------------------------


def test_hard_coded_period_fails_hidden() -> None:
    hard_coded = wrong_answers("m04_retention_job").hard_coded_period
    assert run("04-retention-job", hard_coded, "visible").passed
    hidden = run("04-retention-job", hard_coded, "hidden")
    assert not hidden.passed and "before the schedule lets them go" in hidden.message


def test_hard_coded_erasure_fails_hidden() -> None:
    attempt = open_variant(get_exercise("04-erasure-request"), "visible")
    visible = attempt.context["customer_id"], sorted(attempt.expected["kept"])
    close_attempt(attempt)
    reference = solution("04-erasure-request")

    def hard_coded(cms, p, email):
        cid, kept = visible
        known = p.query("SELECT email FROM customers WHERE id = ?", (cid,))
        if known:
            reference(cms, p, known[0]["email"])
        return dict.fromkeys(kept, "art. 17(3)(b)")

    assert run("04-erasure-request", hard_coded, "visible").passed
    hidden = run("04-erasure-request", hard_coded, "hidden")
    assert not hidden.passed and hidden.principle in {"erasure", "purpose_limitation"}, \
        hidden.message


# --- the boundaries of every rule --------------------------------------------------------

INVOICE_CASES = {"invoice_31_dec_year_minus_8": False, "invoice_1_jan_year_minus_7": True,
                 "invoice_31_dec_year_minus_7": True, "invoice_2555_days_old": True,
                 "invoice_2557_days_old": True, "invoice_zero_total": True}
ACCOUNT_CASES = {"account_due_exactly_now": False, "account_due_a_day_later": True,
                 "account_warranty_ends_now": True, "account_cancelled_in_warranty": False,
                 "account_zero_total_order": True}


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_erasure_setup_plants_the_invoice_boundary(variant: str) -> None:
    """Every case is planted (the clocks make the 2555/2557-day invoices fall in year Y-7),
    and the reference engine keeps exactly the ones the law keeps."""
    attempt = open_variant(get_exercise("04-erasure-request"), variant)
    try:
        planted = attempt.context["boundaries"]
        now = attempt.cms.clock.now()
        assert {case: row["kept"] for case, row in planted.items()
                if case.startswith("invoice")} == INVOICE_CASES
        for case, row in planted.items():
            if row["table"] == "invoices":
                assert (row["id"] in attempt.expected["kept"]) is row["kept"], case
                assert (row["id"] in attempt.expected["expired"]) is not row["kept"], case
        issued = {case: attempt.query("SELECT issued_at, amount_cents FROM invoices"
                                      " WHERE id = ?", (row["id"],))[0]
                  for case, row in planted.items() if row["table"] == "invoices"}
        assert issued["invoice_31_dec_year_minus_8"]["issued_at"] == f"{now.year - 8}-12-31"
        assert issued["invoice_1_jan_year_minus_7"]["issued_at"] == f"{now.year - 7}-01-01"
        assert issued["invoice_zero_total"]["amount_cents"] == 0
        for days in (2555, 2557):
            day = (now - dt.timedelta(days=days)).date().isoformat()
            assert issued[f"invoice_{days}_days_old"]["issued_at"] == day
        cancelled = attempt.query("SELECT status, customer_id FROM orders WHERE id = ?",
                                  (planted["order_cancelled"]["id"],))[0]
        assert cancelled == {"status": "cancelled", "customer_id": attempt.context["customer_id"]}
    finally:
        close_attempt(attempt)


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_retention_setup_plants_every_boundary(variant: str) -> None:
    attempt = open_variant(get_exercise("04-retention-job"), variant)
    try:
        cms, planted = attempt.cms, attempt.context["boundaries"]
        assert {c: r["kept"] for c, r in planted.items()} == INVOICE_CASES | ACCOUNT_CASES
        due = {(i.table, i.row_id): i for i in attempt.expected["due"]}
        for case, row in planted.items():
            assert ((row["table"], row["id"]) not in due) is row["kept"], case
        now = cms.clock.now().isoformat()
        exactly = due[("customers", planted["account_due_exactly_now"]["id"])]
        assert exactly.due == now  # due at, not after, the end of its period
        day_later = planted["account_due_a_day_later"]["id"]
        assert attempt.expected["kept_until"][day_later] == (
            cms.clock.now() + dt.timedelta(days=1)).isoformat()
        warranty = attempt.query(
            "SELECT o.status FROM orders AS o WHERE o.customer_id = ?",
            (planted["account_cancelled_in_warranty"]["id"],))
        assert warranty == [{"status": "cancelled"}]
        totals = attempt.query("SELECT total_cents FROM orders WHERE customer_id = ?"
                               " ORDER BY ordered_at",
                               (planted["account_zero_total_order"]["id"],))
        assert totals[-1]["total_cents"] == 0
        # the sandbox clock is more than a year from the wall clock: datetime.now() is wrong
        assert dt.datetime.now().year > cms.clock.now().year
    finally:
        close_attempt(attempt)


BOUNDARY_WRONG = {
    "04-erasure-request": ("m04_erasure_request", {
        "count_days_from_the_invoice_date": "legal_retention",
        "read_the_wall_clock": "legal_retention",
        "delete_inside_the_tax_period": "legal_retention",
    }),
    "04-retention-job": ("m04_retention_job", {
        "count_days_from_the_invoice_date": "legal_retention",
        "delete_inside_the_tax_period": "legal_retention",
        "keep_while_now_is_not_past_due": "storage_limitation",
        "warranty_of_a_cancelled_order": "storage_limitation",
        "read_the_wall_clock": "legal_retention",
    }),
}


@pytest.mark.parametrize(("exercise_id", "name"), [
    (exercise_id, name) for exercise_id, (_, cases) in BOUNDARY_WRONG.items() for name in cases])
def test_a_boundary_mistake_fails_the_hidden_test_naming_its_principle(exercise_id: str,
                                                                         name: str) -> None:
    module, cases = BOUNDARY_WRONG[exercise_id]
    outcome = run(exercise_id, getattr(wrong_answers(module), name), "hidden")
    assert not outcome.passed and outcome.principle == cases[name], outcome.message


def test_the_boundary_mistakes_fail_on_the_planted_rows() -> None:
    """Not by accident elsewhere: the row named is one of the planted boundary rows."""
    wrong = wrong_answers("m04_retention_job")
    for fn, case in ((wrong.keep_while_now_is_not_past_due, "account_due_exactly_now"),
                     (wrong.warranty_of_a_cancelled_order, "account_cancelled_in_warranty")):
        attempt = open_variant(get_exercise("04-retention-job"), "hidden")
        planted = attempt.context["boundaries"][case]["id"]
        close_attempt(attempt)
        outcome = run("04-retention-job", fn, "hidden")
        assert f"customers row {planted} (rule customer_accounts)" in outcome.message, case


# --- the setup -------------------------------------------------------------------------


def test_erasure_setup_plants_an_expired_and_a_recent_invoice() -> None:
    for variant in ("visible", "hidden"):
        attempt = open_variant(get_exercise("04-erasure-request"), variant)
        try:
            cid = attempt.context["customer_id"]
            assert attempt.expected["kept"] and attempt.expected["expired"]
            for table in ("consent_events", "mailing_recipients"):
                rows = attempt.query(f"SELECT 1 FROM {table} WHERE customer_id = ?", (cid,))
                assert rows, table
        finally:
            close_attempt(attempt)


def test_retention_setup_makes_every_rule_due_and_varies_the_period() -> None:
    seen = {}
    for variant in ("visible", "hidden"):
        attempt = open_variant(get_exercise("04-retention-job"), variant)
        try:
            rules = {r.name: r.period_days or r.period_years
                     for r in attempt.cms.retention.rules()}
            counts = Counter(item.rule for item in attempt.expected["due"])
            # invoices of accounts erased earlier are due on their own
            orphans = attempt.query("SELECT id FROM invoices WHERE customer_id IS NULL")
            assert orphans
            assert attempt.expected["kept_until"]
        finally:
            close_attempt(attempt)
        assert set(rules) == {"invoices", "customer_accounts", "closed_accounts",
                              "newsletter_history"}
        assert all(counts[rule] > 0 for rule in rules), counts
        seen[variant] = rules["customer_accounts"]
    assert seen["visible"] != seen["hidden"]


# --- the source notebook ----------------------------------------------------------------


def test_the_law_cell_cites_then_and_now() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    for c in nb.cells:
        if c.cell_type == "markdown" and "Principle:" in c.source:
            assert "art." in c.source, c.source[:80]
    law = section(nb, "m04-law")
    for cited in ("art. 10(1)", "5(1)(e)", "17(1)", "17(3)(b)", "52(4)", "2:10(3)", "4(5)",
                  "recital 26", "Opinion 05/2014", "single out", "link", "infer", "3:15i",
                  "end of the financial year", "C-413/23 P", "5(2)"):
        assert cited in law, cited


# --- the notebook itself, graded by nbgrader ------------------------------------------------


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    # two exercises, visible + hidden
    student, text = full_marks_and_none(ASSIGNMENT, tmp_path, monkeypatch,
                                        written="m04-ex3-answer", automatic=4)
    assert "erase_customers(ProcessingDb(p)" in text  # the instructions stay
    assert "ROW_NUMBER() OVER" not in text  # the solutions do not
    assert "Rubric" not in cell(student, "m04-ex3-answer").source


def test_erasure_report_names_the_exception_however_it_is_spaced() -> None:
    """'art. 17 (3) (b)' names the exception as well as '17(3)(b)'; 'for tax' does not."""
    reference = solution("04-erasure-request")

    def spaced(cms, p, email):
        return {k: "kept: art. 17 (3) (b) GDPR, the tax duty" for k in reference(cms, p, email)}

    def vague(cms, p, email):
        return {k: "kept for tax" for k in reference(cms, p, email)}

    assert run("04-erasure-request", spaced).passed
    outcome = run("04-erasure-request", vague)
    assert outcome.principle == "legal_retention" and "17(3)(b)" in outcome.message
