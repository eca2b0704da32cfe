"""Module 01 (training and test data): every graded exercise proven.

The proofs every exercise shares (reference solutions, wrong answers, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py over one registry; this file holds what
is particular to the module. Together they prove:

- the reference solutions (taken from the source notebook) pass the visible and hidden test;
- plausible wrong answers (tests/fixtures/wrong_answers/) fail naming the right principle;
- an answer hard-coded to the visible variant fails the hidden test;
- the canary mechanism plants values that a copy cannot hide;
- the source notebook is a valid nbgrader source (metadata, hidden tests, rubric, no output);
- the solution notebook runs top to bottom with every test passing, and the student version
  nbgrader generates fails its tests.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from notebook_tools import (
    HIDDEN_BEGIN,
    autograde_solution_and_untouched,
    autograded,
    cell,
    error_of,
    errors_outside_tests,
    execute,
    graded_test_cells,
    load,
    points,
    release,
    section,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, pseudonyms, run
from grading.exercises.canary import make_canaries, output_values, plant_canaries
from grading.exercises.m01_real_looking import (
    BAD_CHECK_IBANS,
    LOOKALIKE_DOMAINS,
    RESERVED_LOOKALIKES,
    make_dump,
    score,
)
from grading.harness import close_attempt, open_variant
from sandbox_cms.data.build import fresh_copy
from sandbox_cms.data.guard import iban_is_valid, passes_elfproef
from sandbox_cms.data.reference import load_reference

ASSIGNMENT = "01-training-data"


# --- wrong answers --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("answer", "phrase"),
    [
        (None, "should be a list"),
        ([("order", 1)], "list of dicts"),
        ([{"order_id": "311", "status": "refunded", "total_cents": 1, "amount_cents": 1,
           "vat_cents": 1, "customer": "x"}], "integer id"),
        ([], "misses"),
    ],
)
def test_malformed_extract_gets_a_task_message(answer, phrase) -> None:
    def returns_it(cms):
        with cms.processing("bug_fixing") as p:
            p.query("SELECT id, total_cents FROM orders WHERE total_cents < 0")
        return answer

    outcome = run("01-minimal-extract", returns_it, "visible")
    assert outcome.principle == "task" and phrase in outcome.message, outcome.message


def test_training_set_that_is_missing_or_not_sqlite_gets_a_task_message(tmp_path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database\n" * 10)

    def nowhere(production, dest, scenario, customers):
        return tmp_path / "never-written.db"

    def a_text_file(production, dest, scenario, customers):
        return text_file

    for fn, phrase in ((nowhere, "there is no training database"),
                       (a_text_file, "is not a SQLite database")):
        outcome = run("01-training-set", fn, "visible")
        assert outcome.principle == "task" and phrase in outcome.message, outcome.message


def test_real_looking_with_text_ids_gets_a_task_message() -> None:
    outcome = run("01-real-looking", lambda cms, dump: {str(r["id"]) for r in dump}, "visible")
    assert outcome.principle == "task" and "integer" in outcome.message, outcome.message


# --- hard-coded answers fail the hidden test ------------------------------------------


def test_hard_coded_training_set_fails_hidden() -> None:
    hard_coded = wrong_answers("m01_training_set").hard_coded
    assert run("01-training-set", hard_coded, "visible").passed
    hidden = run("01-training-set", hard_coded, "hidden")
    assert not hidden.passed
    assert "asked for 150 customers" in hidden.message


def test_hard_coded_real_looking_ids_fail_hidden() -> None:
    attempt = open_variant(get_exercise("01-real-looking"), "visible")
    visible_ids = {p.record_id for p in attempt.context["planted"]}
    close_attempt(attempt)

    def hard_coded(cms, dump):
        return visible_ids

    assert run("01-real-looking", hard_coded, "visible").passed
    hidden = run("01-real-looking", hard_coded, "hidden")
    assert not hidden.passed
    assert hidden.principle == "synthetic_only"


def test_hard_coded_extract_fails_hidden() -> None:
    reference = solution("01-minimal-extract")
    captured = {}

    def capture(cms):
        captured["rows"] = reference(cms)
        return captured["rows"]

    assert run("01-minimal-extract", capture, "visible").passed
    rows = captured["rows"]

    def hard_coded(cms):
        with cms.processing("bug_fixing") as p:
            p.query("SELECT id, total_cents FROM orders WHERE total_cents < 0")
        return [dict(r) for r in rows]

    assert run("01-minimal-extract", hard_coded, "visible").passed
    hidden = run("01-minimal-extract", hard_coded, "hidden")
    assert not hidden.passed
    assert hidden.principle in {"minimisation", "task"}, hidden.message


# --- the canary mechanism and the planted dump -------------------------------------------


def test_canaries_are_distinctive_and_differ_per_seed(tmp_path: Path) -> None:
    db = fresh_copy(tmp_path / "prod.db", customers=300)
    canaries = plant_canaries(db, seed=1)
    assert len(canaries) == 3
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT first_name, last_name FROM customers")
        names = {f"{first} {last}" for first, last in rows}
        invoice_names = {r[0] for r in conn.execute("SELECT billing_name FROM invoices")}
    finally:
        conn.close()
    for canary in canaries:
        assert canary.name in names and canary.name in invoice_names
        assert canary.email.endswith(".example")
    others = make_canaries(2, [c.customer_id for c in canaries])
    assert {c.email for c in others}.isdisjoint({c.email for c in canaries})


def test_output_values_see_canary_inside_free_text(tmp_path: Path) -> None:
    db = fresh_copy(tmp_path / "prod.db", customers=300)
    canary = plant_canaries(db, seed=3)[0]
    out = tmp_path / "out.db"
    conn = sqlite3.connect(out)
    with conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES (?)", (canary.email,))
    conn.close()
    assert ("notes.body of row 1", canary.email) in list(output_values(out))


def test_dump_plants_each_kind_and_decoys_are_synthetic(tmp_path: Path) -> None:
    db = fresh_copy(tmp_path / "prod.db", customers=400)
    dump, planted = make_dump(str(db), seed=11)
    assert len(planted) == 18
    assert {p.kind for p in planted} == {
        "free_mail", "provider_mail", "bsn_reference", "bsn_note", "real_iban",
        "lookalike_mail"}
    planted_ids = {p.record_id for p in planted}
    clean = [r for r in dump if r["id"] not in planted_ids]
    assert not any(passes_elfproef(r["reference"]) for r in clean)
    assert score(planted_ids, planted) == (1.0, 1.0)
    assert score(set(), planted) == (0.0, 0.0)


@pytest.mark.parametrize("seed", [11, 0, 987654])
def test_dump_holds_the_boundary_cases_for_any_seed(tmp_path: Path, seed: int) -> None:
    """Look-alike domains (real and reserved) and real banks' IBANs with bad check digits."""
    db = fresh_copy(tmp_path / "prod.db", customers=400)
    dump, planted = make_dump(str(db), seed=seed)
    planted_ids = {p.record_id for p in planted}
    flagged_domains = {r["email"].rpartition("@")[2] for r in dump if r["id"] in planted_ids}
    assert set(LOOKALIKE_DOMAINS) <= flagged_domains
    clean = [r for r in dump if r["id"] not in planted_ids]
    clean_domains = {r["email"].rpartition("@")[2] for r in clean}
    assert set(RESERVED_LOOKALIKES) <= clean_domains
    bad = [r for r in clean if r["iban"] and not iban_is_valid(r["iban"])]
    assert len(bad) == BAD_CHECK_IBANS
    assert all(r["iban"][4:8] in load_reference().real_banks for r in bad)


@pytest.mark.parametrize("variant", ["visible", "hidden"])
@pytest.mark.parametrize(("name", "principle"), [
    ("example_in_the_name", "synthetic_only"), ("no_check_digits", "task"),
    ("example_com_only", "task"), ("every_nine_digit_number", "task")])
def test_real_looking_boundary_answers_fail_both_variants(variant, name, principle) -> None:
    outcome = run("01-real-looking", getattr(wrong_answers("m01_real_looking"), name), variant)
    assert not outcome.passed and outcome.principle == principle, outcome.message


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_extract_boundary_zero_total_is_planted_and_left_out(variant: str) -> None:
    attempt = open_variant(get_exercise("01-minimal-extract"), variant)
    try:
        zero = attempt.context["zero_total"]
        rows = attempt.query("SELECT total_cents FROM orders WHERE id = ?", (zero,))
        assert rows == [{"total_cents": 0}] and zero not in attempt.expected
    finally:
        close_attempt(attempt)
    wrong = wrong_answers("m01_minimal_extract")
    outcome = run("01-minimal-extract", wrong.zero_total_too, variant)
    assert outcome.principle == "minimisation", outcome.message
    for name in ("key_in_the_code", "salted_with_a_literal", "unkeyed_hash", "raw_customer_ids"):
        outcome = run("01-minimal-extract", getattr(wrong, name), variant)
        assert outcome.principle == "pseudonymisation", (name, outcome.message)


def test_every_correct_pseudonym_style_passes() -> None:
    """HMAC with a generated key (the reference) and a table of random tokens both pass."""
    import secrets

    def random_tokens(cms):
        tokens = {}
        with cms.processing("bug_fixing") as p:
            rows = p.query(
                "SELECT o.id AS order_id, o.customer_id, o.status, o.total_cents,"
                " i.amount_cents, i.vat_cents FROM orders AS o"
                " JOIN invoices AS i ON i.order_id = o.id WHERE o.total_cents < 0")
        for row in rows:
            cid = row.pop("customer_id")
            row["customer"] = tokens.setdefault(cid, secrets.token_hex(8))
        return rows

    for variant in ("visible", "hidden"):
        assert run("01-minimal-extract", random_tokens, variant).passed
        assert run("01-minimal-extract", solution("01-minimal-extract"), variant).passed


def test_the_pseudonym_judge_finds_a_literal_key() -> None:
    import hashlib
    import hmac

    source = 'KEY = b"shop-secret-2014"\n'
    value = hmac.new(b"shop-secret-2014", b"42", hashlib.sha256).hexdigest()[:12]
    problems, _ = pseudonyms.judge([("order 1", value, 42, {"id": 42})], source=source)
    assert problems and "written in your code" in problems[0].reason
    problems, _ = pseudonyms.judge([("order 1", value, 42, {"id": 42})], source="KEY = 1\n")
    assert problems == []
    problems, task = pseudonyms.judge([("a", "tok1xx", 1, {"id": 1}), ("b", "tok1xx", 2,
                                                                       {"id": 2})])
    assert problems == [] and task == ["different customers must get different pseudonyms"]


# --- the source notebook ----------------------------------------------------------------


def test_every_legal_claim_cell_cites_an_article() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    for c in nb.cells:
        if c.cell_type == "markdown" and "Principle:" in c.source:
            assert "art." in c.source, c.source[:80]
    law = section(nb, "m01-law")
    for cited in ("art. 8", "art. 9(1)", "art. 11", "5(1)(b)", "6(4)", "5(1)(c)", "C-77/21",
                  "toereikend, ter zake dienend en niet bovenmatig", "CBP"):
        assert cited in law, cited


# --- the notebook itself, executed and graded -----------------------------------------------


@pytest.mark.slow
@pytest.mark.nbgrader
def test_solution_notebook_runs_with_every_test_passing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PRIVACY_COURSE_PROGRESS", str(tmp_path / "progress.json"))
    nb = execute(source_notebook(ASSIGNMENT))  # raises on the first failing cell
    for c in graded_test_cells(nb):
        assert error_of(c) is None
        assert any("passed" in o.get("text", "") for o in c.outputs), c.outputs


@pytest.mark.slow
@pytest.mark.nbgrader
def test_student_version_keeps_the_task_and_hides_the_answers(tmp_path) -> None:
    student = load(release(ASSIGNMENT, tmp_path / "classroom"))
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and HIDDEN_BEGIN not in text
    assert "HMAC" in text  # the instructions stay
    assert "hmac.new(key" not in text and "seed=2013" not in text  # the solutions do not
    written = cell(student, "m01-ex4-answer").source
    assert "Rubric" not in written and "Model answer" not in written
    assert "How it is graded" in cell(student, "m01-ex4-md").source


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.delenv("PRIVACY_COURSE_PROGRESS", raising=False)
    scores = autograde_solution_and_untouched(ASSIGNMENT, tmp_path / "classroom")
    graded = points(load(source_notebook(ASSIGNMENT)))
    automatic = {gid for gid in graded if gid != "m01-ex4-answer"}
    assert len(automatic) == 6  # three exercises, visible + hidden
    for gid in automatic:
        assert scores["solution"][gid] == graded[gid], (gid, scores["solution"])
        assert scores["untouched"][gid] == 0, (gid, scores["untouched"])
    # the written answer waits for the instructor in the formgrader
    assert scores["solution"]["m01-ex4-answer"] == 0
    # the demos and the stubs' definitions run for every learner; only the tests fail
    for student in ("solution", "untouched"):
        nb = autograded(tmp_path / "classroom", student, ASSIGNMENT)
        assert errors_outside_tests(nb) == [], student


def test_every_test_cell_imports_check_itself() -> None:
    """A learner cell that rebinds ``check`` cannot reach a test cell: each test cell (the
    hidden ones inside their hidden block) imports it again, from the gradebook's copy."""
    for c in graded_test_cells(load(source_notebook(ASSIGNMENT))):
        body = c.source.split(HIDDEN_BEGIN)[-1]
        assert body.lstrip().startswith("from grading import check\n"), c.source
