"""Exercise 06-who-and-what: whose data, and which kinds, does a leaked copy hold?

Art. 4(12) GDPR: a personal-data breach is a breach of security leading to the accidental or
unlawful destruction, loss, alteration, unauthorised disclosure of, or access to, personal
data; a copy readable by anyone is one, with or without proof that someone took it. Art.
33(3)(a): the notification describes the categories and approximate number of people and
records concerned. The setup (:mod:`grading.exercises._m06_breach`) leaves a CSV copy of some
customer columns beside the sandbox: people who moved since, one erased since, two canary
rows, one person twice, namesakes in the sandbox, and the IBAN column.

The learner writes ``find_leaked(cms, leak_path) -> {"customers": [ids], "people": n,
"categories": [names]}``: the ids of the current customers in the copy, the number of real
people in it (the erased customer counts, canaries do not, the duplicate once), and the data
categories of its columns (datasets/policy/categories.toml). Read the sandbox only under the
``breach_investigation`` purpose.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from grading.checks import PrincipleViolation
from grading.exercises import _m06_breach as breach
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "06-who-and-what"
plant_breach = breach.plant_breach
"""The notebook's demo plants the same story in the learner's own sandbox."""
incident_timeline = breach.incident_timeline
ARTICLE = "art. 4(12) and 33(3)(a) GDPR"


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    context = breach.plant_breach(cms, variant.seed or 0)
    context["categories"] = breach.categories_of(
        [f"customers.{c}" for c in context["columns"]], cms.register)
    context["leak_path"] = str(Path(cms.path).parent / breach.LEAK_FILE)
    return context


def _arguments(attempt: Attempt) -> tuple[str]:
    return (attempt.context["leak_path"],)


def answer_shape(attempt: Attempt) -> None:
    """The three keys, with a list of ids, a number and a list of category names."""
    answer = attempt.result
    missing = [k for k in ("customers", "people", "categories") if k not in answer]
    if missing:
        raise PrincipleViolation("task", f"your answer lacks the key(s) {', '.join(missing)}")
    ids = answer["customers"]
    if not isinstance(ids, list | tuple | set) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise PrincipleViolation("task", "'customers' should be a list of customer ids (int)")
    if not isinstance(answer["people"], int) or isinstance(answer["people"], bool):
        raise PrincipleViolation("task", "'people' should be a number (int)")
    if not isinstance(answer["categories"], list | tuple | set) or not all(
            isinstance(c, str) for c in answer["categories"]):
        raise PrincipleViolation("task", "'categories' should be a list of category names")


def every_category(attempt: Attempt) -> None:
    """The categories of every column of the copy, and no others."""
    expected = set(attempt.context["categories"])
    given = set(attempt.result["categories"])
    records = [f"the copy holds {c!r} data (a column the register files under it) but your "
               "answer leaves it out" for c in sorted(expected - given)]
    records += [f"{c!r}: no column of the copy holds that category" for c in
                sorted(given - expected)]
    if records:
        raise PrincipleViolation(
            "breach_assessment", "name every category of personal data in the copy, column by "
            "column (cms.register.category_of('customers.<column>')): the categories decide "
            "the risk", records, article=ARTICLE)


def the_right_customers(attempt: Attempt) -> None:
    """Every current customer in the copy, matched by e-mail address, and nobody else."""
    expected = set(attempt.context["customers"])
    given = set(attempt.result["customers"])
    records = []
    moved = set(attempt.context["moved"])
    for cid in sorted(expected - given):
        why = " (moved since the copy was made: match on the e-mail address, not the whole row)" \
            if cid in moved else ""
        records.append(f"customer {cid} is in the copy{why} but not in your answer")
    namesakes = set(attempt.context["namesakes"])
    for cid in sorted(given - expected):
        why = (" (shares a name with someone in the copy: a name is not an identifier)"
               if cid in namesakes else "")
        records.append(f"customer {cid} is not in the copy{why} but is in your answer")
    if records:
        raise PrincipleViolation(
            "breach_assessment", "find the people in the copy by an identifier of their "
            "account (the e-mail address, without regard to capitals), not by name, and not "
            "by the whole row: data change after a copy is made", records, article=ARTICLE)


def the_right_count(attempt: Attempt) -> None:
    """The number of real people: each once, the erased one included, canaries not."""
    expected = attempt.context["people"]
    given = attempt.result["people"]
    if given != expected:
        rows = attempt.context["rows"]
        hints = []
        if given == rows:
            hints.append("that is the number of rows: one person is in the copy twice, and "
                         "the canary rows are nobody")
        if given == len(attempt.context["customers"]):
            hints.append("that counts only people still in the sandbox: someone erased since "
                         "the copy was made is in it, and their data leaked too")
        raise PrincipleViolation(
            "breach_assessment", f"the copy holds the data of {expected} people, your answer "
            f"says {given}: count each person once (capitals do not make another address), "
            f"leave out the canary rows (@{breach.CANARY_DOMAIN}), and count the people no "
            "longer in the sandbox", hints, article=ARTICLE)


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Whose data, and which kinds, are in a leaked copy?",
    principles=("breach_assessment", "purpose_limitation"),
    task=(
        "find_leaked(cms, leak_path) reads the leaked CSV copy at leak_path and, under the "
        "'breach_investigation' purpose, the sandbox; it returns {'customers': ids of the "
        "current customers whose data is in the copy, 'people': the number of real people in "
        "it, 'categories': the data categories of its columns}."
    ),
    checks=(answer_shape, every_category, the_right_customers, the_right_count),
    points=3,
    purpose=breach.PURPOSE,
    returns=dict,
    names_principle=False,
    visible=Variant(scenario="webshop", seed=20160101, customers=300,
                    now=dt.datetime(2025, 3, 10, 9, 0)),
    hidden=Variant(scenario="webshop", customers=300, now=dt.datetime(2025, 4, 7, 9, 0)),
    prepare=prepare,
    arguments=_arguments,
))
