"""Module 00 (orientation): the notebook is a clean nbgrader source, its tour and warm-up run
top to bottom, the warm-up's reference solution passes both variants, a hard-coded answer
fails the hidden one, and the student version nbgrader generates fails its test."""

from __future__ import annotations

import datetime as dt
import importlib.util
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
    nbgrader_meta,
    points,
    solution_function,
    source_notebook,
)

from grading import run
from grading.harness import close_attempt, get_exercise, open_variant

ASSIGNMENT = "00-orientation"
EXERCISE = "00-newsletter-consent"


def send_newsletter():
    return solution_function(ASSIGNMENT, "m00-warmup-solution", "send_newsletter")


def test_source_notebook_is_a_clean_nbgrader_source() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)) == len(nb.cells)  # every cell is locked or graded
    for c in nb.cells:
        assert nbgrader_meta(c)["schema_version"] == 3
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    visible, hidden = graded_test_cells(nb)
    total = sum(nbgrader_meta(c)["points"] for c in (visible, hidden))
    assert total == get_exercise(EXERCISE).points == 2
    assert nbgrader_meta(visible)["locked"] and nbgrader_meta(hidden)["locked"]
    assert f'check("{EXERCISE}", send_newsletter)' in visible.source
    assert f'check("{EXERCISE}", send_newsletter, variant="hidden")' in hidden.source.split(
        HIDDEN_BEGIN)[1]
    solution = cell(nb, "m00-warmup-solution")
    assert nbgrader_meta(solution)["solution"] and "### BEGIN SOLUTION" in solution.source


def test_orientation_states_the_promise_with_its_articles() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    assert "20–30 minutes" in nb.cells[0].source
    promise = cell(nb, "m00-promise").source
    for cited in ("art. 5(1)(b)", "art. 6(4)", "art. 5(1)(c)", "C-77/21", "RFC 2606"):
        assert cited in promise, cited
    tour = "\n".join(c.source for c in nb.cells)
    for shown in ("cms.processing(", "cms.audit", "cms.clock", "CustomerCard", "AuditLogView",
                  "ClockControl", 'variant="hidden"'):
        assert shown in tour, shown


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_warm_up_solution_passes(variant: str) -> None:
    outcome = run(EXERCISE, send_newsletter(), variant)
    assert outcome.passed, outcome.message


def _wrong_answers():
    path = Path(__file__).parent / "fixtures" / "wrong_answers" / "m00_newsletter.py"
    spec = importlib.util.spec_from_file_location("wrong_m00_newsletter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG_ANSWERS


@pytest.mark.parametrize(("fn", "principle", "phrase"), _wrong_answers(),
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_wrong_warm_up_fails_naming_the_principle(fn, principle, phrase) -> None:
    outcome = run(EXERCISE, fn, "visible")
    assert not outcome.passed
    assert outcome.principle == principle, outcome.message
    assert phrase in outcome.message, outcome.message


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_boundary_cases_are_planted_and_decide_as_labelled(variant: str) -> None:
    """Whatever the seed, the warm-up's sandbox holds every boundary of the consent rules,
    and the ledger (the reference) decides each as its label says."""
    from grading.exercises import m00_orientation as warm_up

    attempt = open_variant(get_exercise(EXERCISE), variant)
    try:
        cms, cases = attempt.cms, attempt.context["cases"]
        now = cms.clock.now()
        assert sorted(cases.values()) == sorted(label for label, _, _ in warm_up.CASES)
        by_label = {label: cid for cid, label in cases.items()}
        for label, may, _ in warm_up.CASES:
            cid = by_label[label]
            assert cms.consent.may(cid, "newsletter").allowed is may, label
            assert (cid in attempt.expected["eligible"]) is may, label
        events = {label: cms.consent.events(cid) for label, cid in by_label.items()}
        exactly = events["unsubscribed exactly at the moment of sending"][-1]
        assert exactly.event == "withdrawn" and exactly.at == now.isoformat()
        assert events["signed up exactly at the moment of sending"][-1].at == now.isoformat()
        assert events["sign-up dated after the moment of sending"][-1].at > now.isoformat()
        assert [e.event for e in events["signed up again after unsubscribing"]] == [
            "granted", "withdrawn", "granted"]
        assert [e.method for e in events["pre-ticked box"]] == ["pre_ticked"]
        assert [e.method for e in events["accepted the terms"]] == ["bundled_terms"]
        assert {e.purpose for e in events["consented to another purpose only"]} == {
            "antipiracy_sharing"}
        before = now - dt.timedelta(seconds=1)  # a second earlier, the exact cases flip
        assert cms.consent.may(by_label["unsubscribed exactly at the moment of sending"],
                               "newsletter", at=before).allowed
        assert not cms.consent.may(by_label["signed up exactly at the moment of sending"],
                                   "newsletter", at=before).allowed
    finally:
        close_attempt(attempt)


@pytest.mark.parametrize(("fn", "principle", "phrase"), _wrong_answers(),
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_wrong_warm_up_fails_on_the_hidden_variant_too(fn, principle, phrase) -> None:
    outcome = run(EXERCISE, fn, "hidden")
    assert not outcome.passed and outcome.principle == principle, outcome.message


def test_hard_coded_warm_up_fails_hidden() -> None:
    attempt = open_variant(get_exercise(EXERCISE), "visible")
    visible = sorted(attempt.expected["eligible"])
    close_attempt(attempt)

    def hard_coded(cms):
        with cms.processing("newsletter") as p:
            p.send_mailing(visible, subject="Spring offers")
        return visible

    assert run(EXERCISE, hard_coded, "visible").passed
    hidden = run(EXERCISE, hard_coded, "hidden")
    assert not hidden.passed
    assert hidden.principle in {"consent", "task"}, hidden.message


@pytest.mark.slow
@pytest.mark.nbgrader
def test_solution_notebook_runs_with_the_tour_and_the_tests_passing(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVACY_COURSE_PROGRESS", str(tmp_path / "progress.json"))
    nb = execute(source_notebook(ASSIGNMENT))
    refused = cell(nb, "m00-refused")
    assert "Refused:" in refused.outputs[0]["text"] and "5(1)(b)" in refused.outputs[0]["text"]
    card = cell(nb, "m00-card")
    assert "application/vnd.jupyter.widget-view+json" in card.outputs[0]["data"]
    for tests in graded_test_cells(nb):
        assert error_of(tests) is None
        assert "passed" in tests.outputs[0]["text"]


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("PRIVACY_COURSE_PROGRESS", raising=False)
    scores = autograde_solution_and_untouched(ASSIGNMENT, tmp_path / "classroom")
    graded = points(load(source_notebook(ASSIGNMENT)))
    assert set(graded) == {"m00-warmup-visible", "m00-warmup-hidden"}
    for gid, worth in graded.items():
        assert scores["solution"][gid] == worth
        assert scores["untouched"][gid] == 0
    for name in ("solution", "untouched"):
        nb = autograded(tmp_path / "classroom", name, ASSIGNMENT)
        assert errors_outside_tests(nb) == [], name  # the tour runs for every learner
    student = load(tmp_path / "classroom" / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    stub = cell(student, "m00-warmup-solution").source
    assert "send_mailing" not in stub and "NotImplementedError" in stub
    assert HIDDEN_BEGIN not in "\n".join(c.source for c in student.cells)


def test_every_test_cell_imports_check_itself() -> None:
    """A learner cell that rebinds ``check`` cannot reach a test cell (see test_module01)."""
    for c in graded_test_cells(load(source_notebook(ASSIGNMENT))):
        body = c.source.split(HIDDEN_BEGIN)[-1]
        assert body.lstrip().startswith("from grading import check\n"), c.source
