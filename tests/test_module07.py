"""Module 07 (capstone: the e-book shop goes live): what is particular to the module.

The proofs every exercise shares (reference solutions pass both variants, the wrong answers in
tests/fixtures/wrong_answers/m07_*.py fail naming their principle on both, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py. This file proves:

- every day runs on the e-book shop at its own moment of the visible and the hidden week, and
  is graded by the checks of the exercise that taught it;
- Friday's analytics shortlist holds every planned basis in both variants;
- no day's task, title or notebook text names a principle or an article, while a failure
  still names both, on both variants; the recap table comes only after the last exercise;
- an answer hard-coded to the visible week fails the hidden one;
- the source notebook runs clean; nbgrader gives the solution full marks and the untouched
  student version none.
"""

from __future__ import annotations

import re

import pytest
from notebook_tools import (
    EXERCISES,
    cell,
    error_of,
    execute,
    full_marks_and_none,
    load,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, run
from grading.exercises import m07_capstone
from grading.harness import close_attempt, open_variant
from grading.principles import principles

ASSIGNMENT = "07-capstone"
VARIANTS = ["visible", "hidden"]
DAYS = [e.id for e in m07_capstone.WEEK]
GIVEAWAYS = re.compile(
    r"Principle:|\bart\.|\d\(\d\)|recital|minimi[sz]|purpose limitation|storage limitation|"
    r"right to erasure|right of access|legitimate|valid consent|pseudonym|anonymi|"
    r"legal obligation|tax duty|tax period|17\(3\)|breach|GDPR|consent|transfer|retention",
    re.I)
"""What would give a day's rule away: an article, a principle, the name of the topic."""
ARTICLE_VOCABULARY = "07-friday-vendors"  # its answers are articles: held to naming no principle


def _prose(text: str) -> str:
    """The words a reader reads as advice: code spans and identifiers (``breach_investigation``,
    ``cms.retention.rules()``, the sandbox's own names) taken out."""
    text = re.sub(r"`[^`]*`", " ", text)
    return " ".join(t for t in text.split() if not re.search(r"[_.]\w", t))


def _md(exercise_id: str):
    _, solution_id, _, _ = EXERCISES[exercise_id]
    return cell(load(source_notebook(ASSIGNMENT)), solution_id.replace("-solution", "-md"))


# --- the week ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("exercise_id", DAYS)
def test_each_day_runs_on_the_ebook_shop_at_its_moment(exercise_id: str, variant: str) -> None:
    exercise = get_exercise(exercise_id)
    taught = get_exercise(m07_capstone.TAUGHT_BY[exercise_id])
    assert exercise.checks == taught.checks and exercise.expect is taught.expect
    assert not exercise.names_principle and exercise.principles == taught.principles
    day = exercise_id.split("-")[1]
    attempt = open_variant(exercise, variant)
    try:
        assert attempt.variant.scenario == "ebooks"
        now = attempt.cms.clock.now()
        assert now == exercise.variant(variant).now
        assert now.strftime("%A").lower() == day
        assert now.date() >= m07_capstone.MONDAYS[variant].date()
        names = {r["name"] for r in attempt.query("SELECT name FROM products")}
        assert all(n.endswith("(e-book)") for n in names)
    finally:
        close_attempt(attempt)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_night_run_meets_every_boundary_on_the_ebook_shop(variant: str) -> None:
    """Module 04's boundaries, planted with e-book stand-ins: each on the side the law puts it
    by the schedule's own count (an e-book has no warranty: that account ordered now)."""
    attempt = open_variant(get_exercise("07-thursday-night-run"), variant)
    try:
        planted = attempt.context["boundaries"]
        assert {"invoice_31_dec_year_minus_8", "invoice_1_jan_year_minus_7",
                "invoice_31_dec_year_minus_7", "invoice_zero_total", "account_due_exactly_now",
                "account_due_a_day_later", "account_warranty_ends_now",
                "account_cancelled_in_warranty", "account_zero_total_order"} <= set(planted)
        due = {(i.table, i.row_id) for i in attempt.expected["due"]}
        for case, row in planted.items():
            assert ((row["table"], row["id"]) in due) is (not row["kept"]), case
        year = attempt.cms.clock.now().year
        assert year == (2025 if variant == "visible" else 2026)
    finally:
        close_attempt(attempt)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_mail_of_tuesday_has_a_namesake_a_housemate_and_a_guest_order(variant) -> None:
    attempt = open_variant(get_exercise("07-tuesday-mail"), variant)
    try:
        ctx = attempt.context
        rows = {r["id"]: r for r in attempt.query(
            "SELECT * FROM customers WHERE id IN (?, ?, ?)",
            (ctx["customer_id"], ctx["same_name"], ctx["household"]))}
        me, namesake = rows[ctx["customer_id"]], rows[ctx["same_name"]]
        assert (namesake["first_name"], namesake["last_name"]) == (me["first_name"],
                                                                   me["last_name"])
        assert rows[ctx["household"]]["street"] == me["street"]
        assert attempt.query("SELECT customer_id FROM orders WHERE id = ?",
                             (ctx["guest_order"],)) == [{"customer_id": None}]
    finally:
        close_attempt(attempt)


def test_the_hidden_week_lies_after_a_year_end() -> None:
    visible, hidden = m07_capstone.MONDAYS["visible"], m07_capstone.MONDAYS["hidden"]
    assert visible.weekday() == hidden.weekday() == 0 and hidden.year == visible.year + 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_analytics_shortlist_holds_every_planned_basis(variant: str) -> None:
    attempt = open_variant(get_exercise("07-friday-vendors"), variant)
    try:
        by_case = {name.split("-", 1)[1]: basis for name, (basis, _) in attempt.expected.items()}
        assert by_case == {"reading-stats": "missing", "sales-dashboards": "45",
                           "web-analytics": "46", "heatmaps": "missing", "ab-testing": "45",
                           "audience": "EEA"}
        claims = [v for v in attempt.context["dossier"]["vendors"] if v["statement"]]
        assert {v["name"].split("-", 1)[1] for v in claims} == {"reading-stats",
                                                                "sales-dashboards"}
    finally:
        close_attempt(attempt)


# --- nothing names its rule -------------------------------------------------------------------


@pytest.mark.parametrize("exercise_id", DAYS)
def test_no_day_names_its_rule(exercise_id: str) -> None:
    exercise = get_exercise(exercise_id)
    text = _md(exercise_id).source
    assert "does not say which rules" in text
    titles = [p.title.lower() for p in principles().values() if p.title != "The task"]
    for shown in (text, exercise.title, exercise.task):
        assert not any(t in _prose(shown).lower() for t in titles), (exercise_id, shown[:80])
        if exercise_id != ARTICLE_VOCABULARY:
            found = GIVEAWAYS.findall(_prose(shown))
            assert not found, (exercise_id, found)


def test_the_recap_comes_after_the_last_exercise_and_cites_then_and_now() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.index("m07-recap") > ids.index("m07-ex9-answer") > ids.index("m07-ex8-hidden")
    recap = cell(nb, "m07-recap").source
    for cited in ("33(1)", "15(1)", "17(3)(b)", "19", "5(1)(e)", "Chapter V", "6(1)(a)",
                  "5(1)(c)", "Wbp 34a", "Wbp 35", "Wbp 10(1)", "Wbp 76/77", "Wbp 8(a)"):
        assert cited in recap, cited
    before = "\n".join(c.source for c in nb.cells[:ids.index("m07-ex1-md")])
    assert not re.search(r"\bart\.|\d\(\d\)", before), "the week's opening gives nothing away"


@pytest.mark.parametrize(("exercise_id", "wrong", "principle", "article"), [
    ("07-monday-tickets", "tells_nobody_but_the_authority", "breach_notification", "34"),
    ("07-monday-paperwork", "registers_only_notified_breaches", "breach_register", "33(5)"),
    ("07-tuesday-mail", "no_recipients_or_retention", "access", "15(1)"),
    ("07-tuesday-inbox", "says_no_such_customer", "identity_verification", "12(6)"),
    ("07-wednesday-goodbye", "erase_and_tell_nobody", "recipients_notified", "19"),
    ("07-wednesday-goodbye", "delete_invoices_too", "legal_retention", "17(3)(b)"),
    ("07-thursday-night-run", "delete_customers_with_their_invoices", "legal_retention",
     "17(3)(b)"),
    ("07-friday-vendors", "trusts_eu_hosting_claim", "transfers", "art. 44"),
    ("07-saturday-foundation", "share_all_consenting_buyers", "minimisation", "5(1)(c)"),
])
def test_a_failure_still_names_principle_and_article(exercise_id, wrong, principle,
                                                     article) -> None:
    fn = getattr(wrong_answers(EXERCISES[exercise_id][3]), wrong)
    for variant in VARIANTS:
        outcome = run(exercise_id, fn, variant)
        assert outcome.principle == principle, outcome.message
        assert article in outcome.message, outcome.message
        assert outcome.message.startswith(principles()[principle].title), outcome.message


def test_an_answer_hard_coded_to_the_visible_week_fails_the_hidden_one() -> None:
    outcome = {}

    def record(cms):
        outcome.update(solution("07-monday-tickets")(cms))
        return outcome

    assert run("07-monday-tickets", record, "visible").passed
    remembered = dict(outcome)
    hidden = run("07-monday-tickets", lambda cms: dict(remembered), "hidden")
    assert not hidden.passed, hidden.message


# --- the source notebook ----------------------------------------------------------------------


def test_the_source_notebook_runs_clean() -> None:
    """Everything but the hidden tests (which need the instructor's parameters) runs."""
    nb = execute(source_notebook(ASSIGNMENT), allow_errors=True)
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        error = error_of(c)
        if c.id.endswith("-hidden"):
            assert error is None or error.startswith("HiddenVariantUnavailable"), error
        else:
            assert error is None, (c.id, error)
    chart = cell(nb, "m07-day6")
    assert any("image/svg+xml" in o.get("data", {}) or "text/html" in o.get("data", {})
               for o in chart.outputs), "Thursday draws the retention timeline"


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    # eight situations, visible + hidden
    student, text = full_marks_and_none(ASSIGNMENT, tmp_path, monkeypatch,
                                        written="m07-ex9-answer", automatic=16)
    assert "def night_run(cms, p):" in text and "def weekend_tickets(cms):" in text
    assert "Rubric" not in cell(student, "m07-ex9-answer").source
