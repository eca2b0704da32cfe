"""Every graded exercise of every module, proven the same way.

- its reference solution (taken from the source notebook) passes the visible and the hidden
  test;
- every plausible wrong answer in ``tests/fixtures/wrong_answers/`` fails, naming the
  principle (and a phrase of the message) its table says;
- each exercise has at least two wrong answers, each breaking a different rule.

What is particular to a module (its setups, hard-coded answers, the nbgrader run) is in
``tests/test_module<NN>.py``.
"""

from __future__ import annotations

import pytest
from notebook_tools import EXERCISES, solution, wrong_answers

from grading import run
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


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_at_least_two_wrong_answers_each_breaking_a_different_rule(exercise_id: str) -> None:
    cases = wrong_answers(EXERCISES[exercise_id][3]).WRONG_ANSWERS
    rules = {phrase for _, _, phrase in cases}  # the phrase names the rule that was broken
    assert len(rules) >= 2, f"{exercise_id}: its wrong answers break only {rules}"
