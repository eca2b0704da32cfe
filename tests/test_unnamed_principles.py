"""Exercises that do not name their principle (issue 12 item 3; review section 4, P1).

A learner must recognise which rules are at stake: the task cell, the title and the
exercise listing name no principle and no article, while a failing grade still names both.
Each module from 02 on has at least one such exercise. 02-transfer-plan answers with
articles (the answer vocabulary), so its task is held only to naming no principle.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from notebook_tools import EXERCISES, cell, load, source_notebook, wrong_answers

from grading import get_exercise, run
from grading.cli import main
from grading.principles import principles

UNNAMED = {"03-share-with-foundation": "m03-ex1-md", "04-erasure-request": "m04-ex1-md",
           "05-verify-identity": "m05-ex3-md"}
# What would give the principle away in the task: an article, a principle's name, a rule.
GIVEAWAYS = re.compile(
    r"Principle:|\bart\.|\d\(\d\)|recital|minimi[sz]|purpose limitation|storage limitation|"
    r"right to erasure|legitimate|valid consent|pseudonym|anonymi|legal obligation|tax duty|"
    r"tax period|17\(3\)", re.I)


@pytest.mark.parametrize(("exercise_id", "md"), UNNAMED.items())
def test_the_task_names_no_principle(exercise_id: str, md: str) -> None:
    assignment = EXERCISES[exercise_id][0]
    text = cell(load(source_notebook(assignment)), md).source
    assert not GIVEAWAYS.findall(text), GIVEAWAYS.findall(text)
    assert "does not say which rules" in text  # the learner is told why
    exercise = get_exercise(exercise_id)
    assert not exercise.names_principle
    titles = [p.title.lower() for p in principles().values()]
    assert not any(t in exercise.title.lower() for t in titles), exercise.title
    assert not GIVEAWAYS.findall(exercise.title), exercise.title


def test_the_transfer_plan_names_no_principle() -> None:
    text = cell(load(source_notebook("02-storage-transfers")), "m02-ex1-md").source
    assert "Principle:" not in text and "which\nrule is at stake" in text
    exercise = get_exercise("02-transfer-plan")
    titles = [principles()[key].title.lower() for key in exercise.principles]
    assert not any(t in text.lower() or t in exercise.title.lower() for t in titles), titles
    assert not exercise.names_principle


def test_each_module_from_02_on_has_an_exercise_that_names_no_principle() -> None:
    modules = {EXERCISES[e][0][:2] for e in EXERCISES if not get_exercise(e).names_principle}
    numbers = sorted({EXERCISES[e][0][:2] for e in EXERCISES if EXERCISES[e][0][:2] >= "02"})
    assert set(numbers) <= modules, set(numbers) - modules


def test_the_listing_hides_their_principles_and_shows_the_others() -> None:
    result = CliRunner().invoke(main, ["exercises"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    for exercise_id in (*UNNAMED, "02-transfer-plan"):
        listed = lines[exercise_id].removeprefix(exercise_id)  # the id is a name, not a hint
        assert "(recognise it yourself)" in listed
        for key in get_exercise(exercise_id).principles:
            assert key not in listed, listed
    assert "consent" in lines["03-consent-forms"]


@pytest.mark.parametrize(("exercise_id", "wrong", "principle", "article"), [
    ("03-share-with-foundation", "share_all_consenting_buyers", "minimisation", "5(1)(c)"),
    ("03-share-with-foundation", "share_without_valid_consent", "consent", "art. "),
    ("04-erasure-request", "soft_delete_flag", "erasure", "17(1)"),
    ("04-erasure-request", "delete_everything", "legal_retention", "17(3)(b)"),
    ("05-verify-identity", "says_no_such_customer", "identity_verification", "12(6)"),
    ("05-verify-identity", "passport_for_everyone", "identity_verification", "12(6)"),
])
def test_a_failure_still_names_principle_and_article(exercise_id, wrong, principle,
                                                     article) -> None:
    fn = getattr(wrong_answers(EXERCISES[exercise_id][3]), wrong)
    for variant in ("visible", "hidden"):
        outcome = run(exercise_id, fn, variant)
        assert outcome.principle == principle, outcome.message
        assert article in outcome.message, outcome.message
        assert outcome.message.startswith(principles()[principle].title), outcome.message
