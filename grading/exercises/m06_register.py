"""Exercise 06-register: document every breach in the shop's breach register.

Art. 33(5) GDPR: the controller documents any personal-data breach, comprising the facts
relating to it, its effects and the remedial action taken; the documentation lets the
supervisory authority verify compliance with art. 33. That covers breaches the shop did not
notify (EDPB Guidelines 9/2022: record the reasoning for not notifying, too).

The setup plants the four incidents of :mod:`grading.exercises._m06_breach` and an empty
``breach_register`` table; the grader hands the learner the decisions (the reference answer
of 06-notify, so this exercise does not depend on that one). The learner writes
``write_register(cms, decisions)``: one row per incident, written under the
``breach_investigation`` purpose. Checked: a row for every incident, notified or not; facts,
effects and remedial action each described; the categories and number of people of the
incident; whether the authority and the people were told, with the reasons where one of them
was not; recorded at the sandbox clock's time.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation
from grading.exercises import _m06_breach as breach
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "06-register"
ARTICLE = "art. 33(5) GDPR"
TEXTS = ("facts", "effects", "remedial_action")
MIN_WORDS = 4


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    context = breach.plant_breach(cms, variant.seed or 0)
    context["decisions"] = {}
    for incident in _incidents_of(cms):
        decision = breach.decide(incident, cms.register)
        context["decisions"][incident["id"]] = {
            "risk": decision["risk"], "authority": decision["authority"],
            "people": decision["people"],
            "deadline": decision["deadline"] and decision["deadline"].isoformat()}
    return context


def _incidents_of(cms: Any) -> list[dict[str, Any]]:
    return engine.read(cms, "SELECT * FROM incidents ORDER BY id")


def _arguments(attempt: Attempt) -> tuple[dict[int, dict[str, Any]]]:
    return ({k: dict(v) for k, v in attempt.context["decisions"].items()},)


def _rows(attempt: Attempt) -> dict[int, dict[str, Any]]:
    """The last register row per incident (a later row may complete an earlier one, 33(4))."""
    rows: dict[int, dict[str, Any]] = {}
    for row in attempt.query("SELECT * FROM breach_register ORDER BY id"):
        rows[row["incident_id"]] = row
    return rows


def every_breach_registered(attempt: Attempt) -> None:
    """A register row for every incident, whether or not it was notified."""
    rows = _rows(attempt)
    decisions = attempt.context["decisions"]
    records = []
    for iid, decision in decisions.items():
        if iid not in rows:
            told = "notified" if decision["authority"] else "not notified to anyone"
            records.append(f"incident {iid} ({told}) has no entry in the register")
    unknown = sorted(set(rows) - set(decisions))
    records += [f"register entry for incident {i}: there is no such incident" for i in unknown]
    if records:
        raise PrincipleViolation(
            "breach_register", "document every personal-data breach in the register, also "
            "those not notified to the authority or the people", records, article=ARTICLE)


def facts_effects_and_remedies(attempt: Attempt) -> None:
    """Facts, effects and remedial action, each in a few words at least."""
    records = []
    for iid, row in _rows(attempt).items():
        for field in TEXTS:
            if len(str(row[field] or "").split()) < MIN_WORDS:
                records.append(f"incident {iid}: '{field}' is {row[field]!r}: describe it")
    if records:
        raise PrincipleViolation(
            "breach_register", "the entry holds the facts of the breach, its effects (on the "
            "people: what can happen with their data) and the remedial action taken",
            records, article=ARTICLE)


def the_incident_and_the_decision(attempt: Attempt) -> None:
    """The incident's categories and people, the decisions, the reasons where not told."""
    incidents = {i["id"]: i for i in _incidents_of(attempt.cms)}
    records = []
    for iid, row in _rows(attempt).items():
        incident, decision = incidents[iid], attempt.context["decisions"][iid]
        want = breach.categories_of(json.loads(incident["columns"]), attempt.cms.register)
        try:
            given = sorted(set(json.loads(row["categories"])))
        except (TypeError, ValueError):
            given = None
        if given != want:
            records.append(f"incident {iid}: categories {want}, the entry says "
                           f"{row['categories']!r}")
        if row["people"] != incident["people"]:
            records.append(f"incident {iid}: {incident['people']} people, the entry says "
                           f"{row['people']!r}")
        for field, key in (("authority_notified", "authority"), ("people_notified", "people")):
            if bool(row[field]) != decision[key]:
                records.append(f"incident {iid}: '{field}' should be {int(decision[key])} (the "
                               "decision handed to you)")
        if (not decision["authority"] or not decision["people"]) and len(
                str(row["reasons"] or "").split()) < MIN_WORDS:
            records.append(f"incident {iid}: not everyone was told; 'reasons' must say why")
    if records:
        raise PrincipleViolation(
            "breach_register", "the entry records the categories and the number of people "
            "concerned, whom the shop told, and why it told no one else", records,
            article=ARTICLE)


def recorded_on_the_sandbox_clock(attempt: Attempt) -> None:
    """``recorded_at`` is the sandbox clock's time."""
    now = attempt.cms.clock.now()
    records = []
    for iid, row in _rows(attempt).items():
        try:
            at = dt.datetime.fromisoformat(str(row["recorded_at"]).strip()).replace(tzinfo=None)
        except ValueError:
            at = None
        if at is None or abs(at - now) > dt.timedelta(minutes=1):
            records.append(f"incident {iid}: recorded_at {row['recorded_at']!r}, the sandbox "
                           f"clock says {now.isoformat()}")
    if records:
        raise PrincipleViolation(
            "accountability", "date the register entries by the sandbox clock "
            "(cms.clock.now()): the register is evidence", records, article="art. 5(2) GDPR")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Write the breach register",
    principles=("breach_register", "accountability", "purpose_limitation"),
    task=(
        "write_register(cms, decisions) writes one row per incident into the breach_register "
        "table, under the 'breach_investigation' purpose: facts, effects, remedial action, "
        "categories, number of people, whether the authority and the people were told and "
        "the reasons, recorded at the sandbox clock's time."
    ),
    checks=(every_breach_registered, facts_effects_and_remedies, the_incident_and_the_decision,
            recorded_on_the_sandbox_clock),
    points=3,
    purpose=breach.PURPOSE,
    visible=Variant(scenario="webshop", seed=20160101, customers=300,
                    now=dt.datetime(2025, 3, 10, 9, 0)),
    hidden=Variant(scenario="webshop", customers=300, now=dt.datetime(2025, 4, 7, 9, 0)),
    prepare=prepare,
    arguments=_arguments,
))
