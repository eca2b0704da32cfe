"""Module 06 (a personal-data breach): what is particular to the module.

The proofs every exercise shares (reference solutions pass both variants, the wrong answers in
tests/fixtures/wrong_answers/m06_*.py fail naming their principle on both, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py. This file proves:

- the setup plants every boundary in both variants: in the leaked copy the people who moved,
  the erased customer, the canaries, the duplicate in capitals, the namesakes and the IBAN
  column; in the incidents one of each risk, a weekend inside every 72 hours, a copy made and
  an investigation closed days away from the awareness, one deadline passed and others
  running, on a Monday 09:00 sandbox clock far from the wall clock;
- the investigation shows in the audit log under its purpose;
- other lawful answers pass (telling more people than required, a register completed in
  phases), answers hard-coded to the visible variant fail the hidden test;
- exercise 1 names no principle in its task;
- the law cell cites then and now; the source notebook runs clean; nbgrader gives the
  solution full marks and the untouched student version none.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from notebook_tools import (
    cell,
    error_of,
    execute,
    full_marks_and_none,
    load,
    section,
    solution,
    source_notebook,
)
from test_unnamed_principles import GIVEAWAYS

from grading import get_exercise, run
from grading.exercises import _m06_breach as breach
from grading.harness import close_attempt, open_variant

ASSIGNMENT = "06-data-breach"
VARIANTS = ["visible", "hidden"]


def _leak(attempt) -> list[dict[str, str]]:
    with open(attempt.context["leak_path"], newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- 06-who-and-what ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_copy_plants_every_boundary(variant) -> None:
    attempt = open_variant(get_exercise("06-who-and-what"), variant)
    try:
        ctx, rows = attempt.context, _leak(attempt)
        customers = {r["id"]: r for r in attempt.query("SELECT * FROM customers")}
        by_email = {c["email"]: c for c in customers.values()}
        assert "iban" in rows[0] and "financial" in ctx["categories"]
        assert sum(1 for r in rows if r["iban"]) >= 3
        # the moved: same address in the copy? no: the sandbox has a new one
        for cid in ctx["moved"]:
            now = customers[cid]
            then = next(r for r in rows if r["email"] == now["email"])
            assert (then["street"], then["postcode"]) != (now["street"], now["postcode"])
        # the erased: in the copy, gone from the sandbox, a completed erasure without an id
        assert ctx["erased_email"] in {r["email"] for r in rows}
        assert ctx["erased_email"] not in by_email
        assert attempt.query("SELECT COUNT(*) AS n FROM dsr_requests WHERE kind = 'erase'"
                             " AND customer_id IS NULL AND status = 'completed'")[0]["n"] >= 1
        # the canaries: two rows at the canary domain, nobody in the sandbox
        canaries = [r for r in rows if r["email"].endswith("@" + breach.CANARY_DOMAIN)]
        assert len(canaries) == 2
        assert not any(c["email"].endswith(breach.CANARY_DOMAIN) for c in customers.values())
        # the duplicate: the same person twice, once in capitals
        emails = [r["email"] for r in rows]
        twice = customers[ctx["duplicate"]]["email"]
        assert emails.count(twice) == 1 and emails.count(twice.upper()) == 1
        # the namesakes: current customers not in the copy, with a name from it (one of them
        # the erased customer's)
        erased_row = next(r for r in rows if r["email"] == ctx["erased_email"])
        names = {(c["first_name"], c["last_name"]) for c in
                 (customers[i] for i in ctx["namesakes"])}
        assert (erased_row["first_name"], erased_row["last_name"]) in names
        assert not set(ctx["namesakes"]) & set(ctx["customers"])
        for name in names:
            assert name in {(r["first_name"], r["last_name"]) for r in rows}
        # the count: rows minus canaries minus the duplicate
        assert ctx["people"] == len(rows) - 3 == len(ctx["customers"]) + 1
    finally:
        close_attempt(attempt)


def test_the_investigation_shows_in_the_audit_log() -> None:
    attempt = open_variant(get_exercise("06-who-and-what"), "visible")
    try:
        solution("06-who-and-what")(attempt.cms, attempt.context["leak_path"])
        attempt.cms.flush()
        purposes = {r["purpose"] for r in attempt.query(
            "SELECT purpose FROM audit_log WHERE table_name = 'customers' AND actor = 'learner'")}
        assert purposes == {breach.PURPOSE}
    finally:
        close_attempt(attempt)


def test_hard_coded_people_fail_hidden() -> None:
    attempt = open_variant(get_exercise("06-who-and-what"), "visible")
    answer = solution("06-who-and-what")(attempt.cms, attempt.context["leak_path"])
    close_attempt(attempt)

    def hard_coded(cms, leak_path):
        with cms.processing(breach.PURPOSE) as p:
            p.query("SELECT id FROM customers LIMIT 1")
        return dict(answer)

    assert run("06-who-and-what", hard_coded, "visible").passed
    hidden = run("06-who-and-what", hard_coded, "hidden")
    assert not hidden.passed and hidden.principle == "breach_assessment", hidden.message


def test_exercise_1_names_no_principle() -> None:
    text = cell(load(source_notebook(ASSIGNMENT)), "m06-ex1-md").source
    assert not GIVEAWAYS.findall(text), GIVEAWAYS.findall(text)
    assert "does not say which rules" in text
    assert not get_exercise("06-who-and-what").names_principle


# --- 06-notify --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_incidents_plant_every_case(variant) -> None:
    attempt = open_variant(get_exercise("06-notify"), variant)
    try:
        now = attempt.cms.clock.now()
        assert now.weekday() == 0 and now.time() == dt.time(9, 0)
        assert abs((dt.datetime.now() - now).days) > 300  # the wall clock judges wrongly
        risks = {i: d["risk"] for i, d in attempt.expected.items()}
        assert sorted(risks.values()) == ["high", "high", "risk", "unlikely"]
        ids = attempt.context["incidents"]
        assert risks[ids["test_server"]] == "high" and risks[ids["key_on_disk"]] == "high"
        passed = running = 0
        for iid, decision in attempt.expected.items():
            incident = decision["incident"]
            aware = dt.datetime.fromisoformat(incident["reported_at"])
            end = aware + dt.timedelta(hours=72)
            days = {(aware + dt.timedelta(hours=h)).weekday() for h in range(72)}
            assert days & {5, 6}, iid  # a weekend inside the 72 hours
            made = dt.datetime.fromisoformat(incident["copy_made_at"])
            closed = dt.datetime.fromisoformat(incident["investigation_closed_at"])
            assert aware - made >= dt.timedelta(days=1) and closed - aware >= dt.timedelta(hours=2)
            assert closed < now  # every investigation closed before the sandbox's Monday
            passed += end < now
            running += end > now
        assert passed >= 1 and running >= 2
    finally:
        close_attempt(attempt)


def test_telling_more_people_than_required_is_lawful_and_passes() -> None:
    reference = solution("06-notify")

    def generous(cms):
        answer = reference(cms)
        for entry in answer.values():
            entry["people"] = True
        return answer

    for variant in VARIANTS:
        assert run("06-notify", generous, variant).passed


def test_hard_coded_decisions_fail_hidden() -> None:
    seen = {}

    def record(cms):
        seen.update(solution("06-notify")(cms))
        return dict(seen)

    assert run("06-notify", record, "visible").passed
    remembered = dict(seen)
    hidden = run("06-notify", lambda cms: dict(remembered), "hidden")
    assert not hidden.passed and hidden.principle == "task", hidden.message


# --- 06-register ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_register_starts_empty_and_a_breach_was_not_notified(variant) -> None:
    attempt = open_variant(get_exercise("06-register"), variant)
    try:
        assert attempt.query("SELECT COUNT(*) AS n FROM breach_register")[0]["n"] == 0
        decisions = attempt.context["decisions"]
        assert len(decisions) == 4
        assert any(not d["authority"] for d in decisions.values())
        assert any(d["authority"] and not d["people"] for d in decisions.values())
    finally:
        close_attempt(attempt)


def test_a_register_completed_in_phases_passes() -> None:
    """A first, short entry and a later, complete one per incident (33(4)) pass: the last
    entry per incident counts."""
    reference = solution("06-register")

    def in_phases(cms, decisions):
        with cms.processing(breach.PURPOSE) as p:
            for iid in decisions:
                p.execute("INSERT INTO breach_register (incident_id, recorded_at, facts,"
                          " effects, remedial_action, categories, people, authority_notified,"
                          " people_notified) VALUES (?, ?, 'reported', '?', '?', '[]', 0, 0, 0)",
                          (iid, cms.clock.now().isoformat()))
        reference(cms, decisions)

    for variant in VARIANTS:
        assert run("06-register", in_phases, variant).passed


def test_an_entry_for_an_incident_that_does_not_exist_fails() -> None:
    reference = solution("06-register")

    def invented(cms, decisions):
        reference(cms, decisions)
        with cms.processing(breach.PURPOSE) as p:
            p.execute("INSERT INTO breach_register (incident_id, recorded_at, facts, effects,"
                      " remedial_action, categories, people, authority_notified,"
                      " people_notified, reasons) SELECT 99999, recorded_at, facts, effects,"
                      " remedial_action, categories, people, authority_notified,"
                      " people_notified, reasons FROM breach_register LIMIT 1")

    outcome = run("06-register", invented, "visible")
    assert not outcome.passed and "no such incident" in outcome.message


# --- the source notebook ----------------------------------------------------------------------


def test_the_law_cell_cites_then_and_now() -> None:
    law = " ".join(section(load(source_notebook(ASSIGNMENT)), "m06-law").split())
    for cited in ("art. 34a Wbp", "1 January 2016", "Art. 4(12)", "Art. 33(1)", "72 hours",
                  "Autoriteit Persoonsgegevens", "Art. 33(3)", "Art. 33(4)", "Art. 33(2)",
                  "Art. 33(5)", "Art. 34(1)", "Art. 34(3)", "9/2022", "01/2021"):
        assert cited in law, cited
    story = section(load(source_notebook(ASSIGNMENT)), "m06-story")
    assert "C-77/21" in story and "72 hours" in story


def test_the_risk_method_in_the_notebook_is_the_graders() -> None:
    method = breach.risk_method()
    assert method["high_risk"] == ["financial", "birth_date"]
    assert method["identifying"] == ["identity", "address"]
    assert method["notify_within_hours"] == 72
    text = section(load(source_notebook(ASSIGNMENT)), "m06-law")
    assert "bank account (IBAN) or a date of birth together with a name or an address" in " ".join(
        text.split())


def test_the_timeline_draws_two_spans_per_incident() -> None:
    attempt = open_variant(get_exercise("06-notify"), "visible")
    try:
        svg = str(breach.incident_timeline(attempt.cms))
    finally:
        close_attempt(attempt)
    assert svg.count('data-mark="span"') == 2 * len(attempt.expected)
    assert svg.count('data-state="unnoticed"') == len(attempt.expected)


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
    leaked = Path(source_notebook(ASSIGNMENT)).parent / breach.LEAK_FILE
    assert not leaked.exists()  # the copy lives beside the sandbox, not in the course


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    # three exercises, visible + hidden
    student, text = full_marks_and_none(ASSIGNMENT, tmp_path, monkeypatch,
                                        written="m06-ex4-answer", automatic=6)
    assert "def find_leaked(cms, leak_path):" in text  # the stubs stay
    assert "def decide_notifications(cms):" in text and "def write_register(cms, decisions):" \
        in text
    assert "canaries = {e for e" not in text and "# not copy_made_at" not in text
    assert "Rubric" not in cell(student, "m06-ex4-answer").source
    assert json.dumps(student.metadata)  # a plain notebook


def test_counting_from_the_next_whole_hour_is_accepted_and_two_hours_late_is_not() -> None:
    """Regulation 1182/71 art. 3(2)(a), read as starting the hours at the next whole hour, is
    a lawful reading: its deadline (and the hours left to it) passes; two hours more fail."""
    reference = solution("06-notify")

    def shifted(extra_hours):
        def answer(cms):
            result = reference(cms)
            now = cms.clock.now()
            for entry in result.values():
                if entry["deadline"]:
                    end = dt.datetime.fromisoformat(entry["deadline"])
                    aware = end - dt.timedelta(hours=72)
                    whole = aware.replace(minute=0, second=0) + dt.timedelta(hours=1)
                    end = whole + dt.timedelta(hours=72 + extra_hours)
                    entry["deadline"] = end.isoformat()
                    entry["hours_left"] = (end - now).total_seconds() / 3600
            return result
        return answer

    for variant in VARIANTS:
        assert run("06-notify", shifted(0), variant).passed
    late = run("06-notify", shifted(2), "visible")
    assert not late.passed and late.principle == "breach_notification", late.message
