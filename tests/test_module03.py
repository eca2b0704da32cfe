"""Module 03 (sharing customer data with an anti-piracy foundation): every exercise proven.

The proofs every exercise shares (reference solutions, wrong answers, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py over one registry; this file holds what
is particular to the module. Together they prove:

- the reference solutions (taken from the source notebook) pass the visible and hidden test;
- plausible wrong answers (tests/fixtures/wrong_answers/m03_*.py) fail naming the right
  principle and rule;
- an answer hard-coded to the visible variant fails the hidden test;
- the planted consent histories and the generated forms are what the exercises claim;
- the source notebook is a valid nbgrader source (metadata, hidden tests, rubric, no output)
  citing the articles of post 3;
- with nbgrader (one slow test): the solution gets full marks, the untouched student version
  none, and the student version keeps the tasks but not the answers.
"""

from __future__ import annotations

import datetime as dt

import pytest
from notebook_tools import (
    HIDDEN_BEGIN,
    autograde_solution_and_untouched,
    autograded,
    cell,
    errors_outside_tests,
    load,
    points,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, run
from grading.exercises import m03_consent_forms as forms_ex
from grading.exercises import m03_share_with_foundation as share_ex
from grading.harness import close_attempt, open_variant

ASSIGNMENT = "03-consent-sharing"


# --- wrong answers --------------------------------------------------------------------

def test_consent_judged_at_the_moment_of_sharing_not_of_purchase() -> None:
    """The buyer who withdrew after buying is shared by the 'at purchase' answer, and the
    grade names that buyer's withdrawal (art. 7(3))."""
    attempt = open_variant(get_exercise("03-share-with-foundation"), "visible")
    try:
        withdrew = [cid for cid, label in attempt.context["planted"].items()
                    if label == "withdrew after buying"]
    finally:
        close_attempt(attempt)
    wrong = wrong_answers("m03_share_with_foundation").consent_when_they_bought
    outcome = run("03-share-with-foundation", wrong, "visible")
    assert f"customer {withdrew[0]} withdrew consent" in outcome.message, outcome.message


def test_nothing_shared_or_two_shares_get_a_task_message() -> None:
    def shares_nothing(cms, sku):
        with cms.processing("antipiracy_sharing") as p:
            p.query("SELECT id FROM orders LIMIT 1")
        return []

    reference = solution("03-share-with-foundation")

    def shares_twice(cms, sku):
        ids = reference(cms, sku)
        cms.clock.advance(hours=1)
        with cms.processing("antipiracy_sharing") as p:
            p.share("antipiracy-foundation", ids[:1], ["customers.email", "orders.id"])
        return ids

    for fn, phrase in ((shares_nothing, "nothing was shared"), (shares_twice, "one p.share")):
        outcome = run("03-share-with-foundation", fn, "visible")
        assert outcome.principle == "task" and phrase in outcome.message, outcome.message


def test_forms_answer_with_a_missing_form_or_an_unknown_code_gets_a_task_message() -> None:
    review = wrong_answers("m03_consent_forms")._review  # the right review, by hand

    def skips_one(cms, forms):
        verdicts = review(forms)
        return {f["id"]: verdicts[f["id"]] for f in forms[1:]}

    def own_code(cms, forms):
        return {f["id"]: {"looks_dodgy"} for f in forms}

    def invents_a_form(cms, forms):
        return {**review(forms), "F99": set()}

    for fn, phrase in ((skips_one, "missing: F1"), (own_code, "unknown problem code"),
                       (invents_a_form, "not among them: F99")):
        outcome = run("03-consent-forms", fn, "visible")
        assert outcome.principle == "task" and phrase in outcome.message, outcome.message


# --- hard-coded answers fail the hidden test ------------------------------------------


def test_hard_coded_share_fails_hidden() -> None:
    attempt = open_variant(get_exercise("03-share-with-foundation"), "visible")
    try:
        visible_ids = sorted(attempt.expected["share"])
    finally:
        close_attempt(attempt)
    hard_coded = wrong_answers("m03_share_with_foundation").hard_coded(visible_ids)
    assert run("03-share-with-foundation", hard_coded, "visible").passed
    hidden = run("03-share-with-foundation", hard_coded, "hidden")
    assert not hidden.passed
    assert hidden.principle in {"consent", "minimisation"}, hidden.message


def test_hard_coded_form_verdicts_fail_hidden() -> None:
    visible = {f["id"]: forms_ex.verdict(f) for f in forms_ex.make_forms(
        get_exercise("03-consent-forms").visible.seed)}

    def hard_coded(cms, forms):
        return {k: set(v) for k, v in visible.items()}

    assert run("03-consent-forms", hard_coded, "visible").passed
    hidden = run("03-consent-forms", hard_coded, "hidden")
    assert not hidden.passed and hidden.principle == "consent", hidden.message


# --- what the setups plant --------------------------------------------------------------


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_planted_histories_decide_as_labelled(variant: str) -> None:
    attempt = open_variant(get_exercise("03-share-with-foundation"), variant)
    try:
        planted = attempt.context["planted"]
        assert len(planted) == len(share_ex.PLANTED)
        assert set(planted) <= attempt.expected["buyers"]
        may_now = {"withdrew after buying": False, "pre-ticked box at checkout": False,
                   "clause in the terms": False, "consented after buying": True,
                   "withdrew, then consented again": True, "pre-ticked, then a real tick": True}
        for cid, label in planted.items():
            assert attempt.cms.consent.may(cid, share_ex.PURPOSE).allowed == may_now[label]
            assert (cid in attempt.expected["share"]) == may_now[label]
        withdrew = next(c for c, label in planted.items() if label == "withdrew after buying")
        bought = dt.datetime.fromisoformat(share_ex.buyers(attempt.cms, attempt.context["sku"])
                                           [withdrew])
        assert attempt.cms.consent.may(withdrew, share_ex.PURPOSE, at=bought).allowed
    finally:
        close_attempt(attempt)


def test_visible_and_hidden_differ_in_title_date_and_shared_customers() -> None:
    exercise = get_exercise("03-share-with-foundation")
    seen = []
    for variant in ("visible", "hidden"):
        attempt = open_variant(exercise, variant)
        try:
            seen.append((attempt.context["sku"], attempt.cms.clock.now(),
                         frozenset(attempt.expected["share"])))
        finally:
            close_attempt(attempt)
    (sku_v, now_v, share_v), (sku_h, now_h, share_h) = seen
    assert sku_v != sku_h and now_v != now_h and share_v != share_h
    assert share_v and share_h


@pytest.mark.parametrize("seed", [20130927, 116, 1, 99])
def test_forms_cover_every_rule_and_include_valid_ones(seed: int) -> None:
    forms = forms_ex.make_forms(seed)
    verdicts = [forms_ex.verdict(f) for f in forms]
    assert set().union(*verdicts) == set(forms_ex.CODES)
    assert sum(1 for v in verdicts if not v) == 2
    assert any(len(v) == 2 for v in verdicts)
    assert len({f["id"] for f in forms}) == len(forms)
    for form, problems in zip(forms, verdicts, strict=True):
        for box in form["boxes"]:
            assert ("Required to complete your order" in box["text"]) == box["required"]
        if "hard_to_withdraw" in problems:
            assert form["withdraw_via"] in {"letter", "phone"}


def test_each_problem_code_has_an_article_and_a_reason() -> None:
    for code in forms_ex.CODES:
        article, _ = forms_ex.PROBLEMS[code]
        assert "art." in article or "para" in article, code
        assert forms_ex.why(code).strip(), code


# --- the source notebook ----------------------------------------------------------------


def test_every_legal_claim_cell_cites_an_article() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    for c in nb.cells:
        if c.cell_type == "markdown" and "Principle:" in c.source:
            assert "art." in c.source, c.source[:80]
    law = cell(nb, "m03-law").source
    for cited in ("art. 8(a)", "art. 8(f)", "6(1)(a)", "4(11)", "7(1)", "7(3)", "7(4)",
                  "6(1)(f)", "recital 47", "para 79", "para 81", "para 64",
                  "Aanhangsel Handelingen TK 2013–2014, nr. 116", "unverified"):
        assert cited in law, cited
    assert "gerechtvaardigd belang" in cell(nb, "m03-story").source


# --- the notebook through nbgrader (one slow test) ----------------------------------------


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("PRIVACY_COURSE_PROGRESS", raising=False)
    root = tmp_path / "classroom"
    scores = autograde_solution_and_untouched(ASSIGNMENT, root)
    graded = points(load(source_notebook(ASSIGNMENT)))
    automatic = {gid for gid in graded if gid != "m03-ex3-answer"}
    assert len(automatic) == 4  # two exercises, visible + hidden
    for gid in automatic:
        assert scores["solution"][gid] == graded[gid], (gid, scores["solution"])
        assert scores["untouched"][gid] == 0, (gid, scores["untouched"])
    assert scores["solution"]["m03-ex3-answer"] == 0  # waits for the instructor
    for student in ("solution", "untouched"):
        assert errors_outside_tests(autograded(root, student, ASSIGNMENT)) == [], student
    # the student version keeps the tasks, not the answers
    student = load(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and HIDDEN_BEGIN not in text
    assert "allowed_customers(\"antipiracy_sharing\")  # valid now" not in text
    assert "problems.add(\"hard_to_withdraw\")" not in text
    assert "hard_to_withdraw" in text  # the table of codes stays
    written = cell(student, "m03-ex3-answer").source
    assert "Rubric" not in written and "Model answer" not in written
    assert "How it is graded" in cell(student, "m03-ex3-md").source
