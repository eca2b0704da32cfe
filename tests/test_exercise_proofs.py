"""Every graded exercise of every module, proven the same way.

- its reference solution (taken from the source notebook) passes the visible and the hidden
  test;
- every plausible wrong answer in ``tests/fixtures/wrong_answers/`` fails, naming the
  principle (and a phrase of the message) its table says, on the visible test and on the
  hidden one;
- each exercise has at least two wrong answers, each breaking a different rule;
- each module's source notebook is a clean nbgrader source: no outputs, solutions marked,
  a locked visible and hidden test cell per exercise worth the exercise's points, one
  written answer graded by hand with its rubric, and the learner time stated.

What is particular to a module (its setups, hard-coded answers, the nbgrader run) is in
``tests/test_module<NN>.py``.
"""

from __future__ import annotations

import re

import pytest
from notebook_tools import (
    EXERCISES,
    HIDDEN_BEGIN,
    HIDDEN_END,
    cell,
    graded_test_cells,
    load,
    nbgrader_meta,
    points,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, run
from grading.harness import exercises

WRONG_CASES = [
    pytest.param(exercise_id, fn, principle, phrase, id=f"{exercise_id}:{fn.__name__}")
    for exercise_id, (_, _, _, module) in EXERCISES.items()
    for fn, principle, phrase in wrong_answers(module).WRONG_ANSWERS
]


def test_every_registered_exercise_is_proven_here():
    graded = {exercise_id for exercise_id in exercises() if not exercise_id.startswith("00-")}
    assert graded <= set(EXERCISES), f"no proofs for {sorted(graded - set(EXERCISES))}"


@pytest.mark.parametrize("variant", ["visible", "hidden"])
@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_reference_solution_passes(exercise_id: str, variant: str) -> None:
    outcome = run(exercise_id, solution(exercise_id), variant)
    assert outcome.passed, outcome.message


@pytest.mark.parametrize(("exercise_id", "fn", "principle", "phrase"), WRONG_CASES)
def test_wrong_answer_fails_naming_the_principle(exercise_id, fn, principle, phrase) -> None:
    outcome = run(exercise_id, fn, "visible")
    assert not outcome.passed, f"{fn.__name__} passed {exercise_id}"
    assert outcome.principle == principle, outcome.message
    assert phrase in outcome.message, outcome.message


@pytest.mark.parametrize(("exercise_id", "fn", "principle", "phrase"), WRONG_CASES)
def test_wrong_answer_fails_the_hidden_variant_too(exercise_id, fn, principle, phrase) -> None:
    """The hidden test (a seed drawn per class) fails the same answer on the same principle;
    its message names kinds of records, not the hidden sandbox's ids, so no phrase check."""
    outcome = run(exercise_id, fn, "hidden")
    assert not outcome.passed, f"{fn.__name__} passed the hidden test of {exercise_id}"
    assert outcome.principle == principle, outcome.message


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_at_least_two_wrong_answers_each_breaking_a_different_rule(exercise_id: str) -> None:
    cases = wrong_answers(EXERCISES[exercise_id][3]).WRONG_ANSWERS
    rules = {phrase for _, _, phrase in cases}  # the phrase names the rule that was broken
    assert len(rules) >= 2, f"{exercise_id}: its wrong answers break only {rules}"


ASSIGNMENTS = sorted({assignment for assignment, *_ in EXERCISES.values()})


def _test_cells(solution_id: str) -> tuple[str, str]:
    """Grade ids of an exercise's visible and hidden test cells (``m04-ex1-solution`` ->
    ``m04-ex1-visible``, ``m04-ex1-hidden``)."""
    prefix = solution_id.removesuffix("-solution")
    return f"{prefix}-visible", f"{prefix}-hidden"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_is_a_clean_nbgrader_source(assignment: str) -> None:
    nb = load(source_notebook(assignment))
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids))
    for c in nb.cells:
        meta = nbgrader_meta(c)
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
        if meta:
            assert meta["schema_version"] == 3
        if meta.get("solution") and c.cell_type == "code":
            assert "### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source
    exercises = {k: v for k, v in EXERCISES.items() if v[0] == assignment}
    assert len(graded_test_cells(nb)) == 2 * len(exercises)
    for exercise, (_, solution_id, function, _) in exercises.items():
        visible, hidden = (cell(nb, grade_id) for grade_id in _test_cells(solution_id))
        for c in (visible, hidden):
            assert nbgrader_meta(c)["locked"] and nbgrader_meta(c)["points"] > 0
        assert f'check("{exercise}", {function})' in visible.source
        assert HIDDEN_BEGIN not in visible.source
        assert HIDDEN_BEGIN in hidden.source and HIDDEN_END in hidden.source
        assert f'check("{exercise}", {function}, variant="hidden")' in hidden.source.split(
            HIDDEN_BEGIN)[1]
    written = [c for c in nb.cells if c.cell_type == "markdown"
               and nbgrader_meta(c).get("grade")]
    assert len(written) == 1, "one written answer, graded by hand"
    meta = nbgrader_meta(written[0])
    assert meta["solution"] and meta["points"] == 5
    assert "Rubric" in written[0].source and "### BEGIN SOLUTION" in written[0].source
    # the learner time is stated (each module restates its own estimate; review P4)
    assert re.search(r"\*\*Learner time: [^*]*\d[^*]*(minutes|hours?)", nb.cells[0].source)


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_exercise_points_match_the_notebook(exercise_id: str) -> None:
    assignment, solution_id, _, _ = EXERCISES[exercise_id]
    graded = points(load(source_notebook(assignment)))
    visible, hidden = _test_cells(solution_id)
    assert get_exercise(exercise_id).points == graded[visible] + graded[hidden]
