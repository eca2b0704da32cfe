"""Exercise 06-notify: whom to tell about each breach, and by when, on the sandbox clock.

Art. 33(1) GDPR: notify the supervisory authority (the Autoriteit Persoonsgegevens) without
undue delay and, where feasible, not later than 72 hours after having become aware of the
breach, unless it is unlikely to result in a risk; a later notification gives the reasons for
the delay. Art. 34(1): tell the people without undue delay when the breach is likely to result
in a high risk; 34(3)(a): not needed when the data were unintelligible to anyone without
access, e.g. encrypted with a key that is safe. The 72 hours are counted from the moment of
awareness; a reading of Regulation 1182/71 art. 3(1) and 3(2)(a) (a period in hours starts at
the beginning of the first whole hour after the event) ends them up to an hour later, so
both are accepted: any deadline from awareness + 72 h to the next whole hour + 72 h. The
wrong moments (the copy made, the investigation closed, three working days) are days away.

The setup plants four incidents (:mod:`grading.exercises._m06_breach`); the shop's risk
method is ``datasets/exercises/breach_risk.toml``. The learner writes
``decide_notifications(cms) -> {incident id: {"risk", "authority", "people", "deadline",
"hours_left"}}``. Checked: an entry per incident; the risk level the method gives; the
authority told where the risk is not unlikely, the people where it is high (telling more
people than the law asks is allowed); the deadline 72 hours after the report reached the
desk (not after the copy was made or the investigation closed, and not three working days);
the hours left on the sandbox clock (negative when the deadline has passed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from grading.checks import PrincipleViolation
from grading.exercises import _m06_breach as breach
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "06-notify"
KEYS = ("risk", "authority", "people", "deadline", "hours_left")
RISKS = ("unlikely", "risk", "high")


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return breach.plant_breach(cms, variant.seed or 0)


def expect(attempt: Attempt) -> dict[int, dict[str, Any]]:
    """The shop's decision per incident, from its row (before the learner runs)."""
    return {i["id"]: {**breach.decide(i, attempt.cms.register), "incident": i}
            for i in breach.incidents(attempt)}


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            return None
    return None


def an_entry_for_each(attempt: Attempt) -> None:
    """Every incident has an entry with the five keys."""
    answer = attempt.result
    missing = [str(i) for i in attempt.expected if i not in answer]
    if missing:
        raise PrincipleViolation("task", "your answer has no entry for incidents "
                                 f"{', '.join(missing)} (keys: incident ids)")
    bad = [f"incident {i}: {v!r:.80}" for i, v in answer.items()
           if not isinstance(v, dict) or any(k not in v for k in KEYS)]
    if bad:
        raise PrincipleViolation("task", "each entry is a dict with the keys "
                                 f"{', '.join(KEYS)}", bad)


def the_right_risk(attempt: Attempt) -> None:
    """The risk level the shop's method gives (encryption with a safe key first)."""
    records = []
    for iid, want in attempt.expected.items():
        given = attempt.result[iid]["risk"]
        if given != want["risk"]:
            incident = want["incident"]
            why = ""
            if incident["encrypted"] and incident["key_compromised"]:
                why = " (encrypted, but the key was taken with it: the data are readable)"
            elif incident["encrypted"]:
                why = " (encrypted, and the key is safe: 34(3)(a))"
            records.append(f"incident {iid} ({incident['title']}): risk {want['risk']!r}{why}, "
                           f"your answer {given!r}")
    if records:
        raise PrincipleViolation(
            "breach_notification", "weigh the risk as the shop's method says: encrypted with a "
            "safe key is unlikely to result in a risk; a bank account or a birth date with a "
            "name or an address is a high risk; other readable personal data is a risk",
            records, article="art. 33(1) and 34(1), 34(3)(a) GDPR")


def told_whom_the_law_asks(attempt: Attempt) -> None:
    """The authority where the risk is not unlikely; the people where it is high."""
    records = []
    for iid, want in attempt.expected.items():
        given = attempt.result[iid]
        title = want["incident"]["title"]
        if want["authority"] and given["authority"] is not True:
            records.append(f"incident {iid} ({title}): a {want['risk']} breach must be "
                           "notified to the Autoriteit Persoonsgegevens (33(1))")
        if want["people"] and given["people"] is not True:
            records.append(f"incident {iid} ({title}): a high risk: the people must be told "
                           "(34(1))")
    if records:
        raise PrincipleViolation(
            "breach_notification", "notify the authority unless the breach is unlikely to "
            "result in a risk, and the people when the risk is high", records,
            article="art. 33(1) and 34(1) GDPR")


def latest_deadline(deadline: dt.datetime) -> dt.datetime:
    """The 72 hours counted from the next whole hour (1182/71 art. 3(2)(a) read that way)."""
    aware = deadline - dt.timedelta(hours=72)
    whole = aware.replace(minute=0, second=0, microsecond=0)
    if whole < aware:
        whole += dt.timedelta(hours=1)
    return whole + dt.timedelta(hours=72)


def _acceptable(given: dt.datetime | None, deadline: dt.datetime) -> bool:
    slack = dt.timedelta(minutes=1)
    return given is not None and deadline - slack <= given <= latest_deadline(deadline) + slack


def deadlines_from_awareness(attempt: Attempt) -> None:
    """72 hours, weekends included, from the moment the report reached the desk (or from the
    next whole hour)."""
    records = []
    for iid, want in attempt.expected.items():
        if not want["authority"]:
            continue
        incident = want["incident"]
        given = _moment(attempt.result[iid]["deadline"])
        if not _acceptable(given, want["deadline"]):
            records.append(f"incident {iid}: reported to the desk at {incident['reported_at']}, "
                           f"so the 72 hours end at {want['deadline'].isoformat()}; your "
                           f"answer {attempt.result[iid]['deadline']!r}")
    if records:
        raise PrincipleViolation(
            "breach_notification", "count 72 hours, in hours, weekends included, from the moment "
            "the shop became aware (the report reached the desk): not from when the copy was "
            "made, not from the end of the investigation, and not three working days", records,
            article="art. 33(1) GDPR")


def hours_left_on_the_sandbox_clock(attempt: Attempt) -> None:
    """Hours from the sandbox clock to each deadline (negative once it has passed)."""
    now = attempt.cms.clock.now()
    records = []
    for iid, want in attempt.expected.items():
        if not want["authority"]:
            continue
        own = _moment(attempt.result[iid]["deadline"])
        deadline = own if own and _acceptable(own, want["deadline"]) else want["deadline"]
        left = (deadline - now).total_seconds() / 3600
        given = attempt.result[iid]["hours_left"]
        if not isinstance(given, int | float) or isinstance(given, bool) or abs(
                given - left) > 0.05:
            records.append(f"incident {iid}: {left:.1f} hours left by the sandbox clock "
                           f"({now.isoformat()}), your answer {given!r}")
    if records:
        raise PrincipleViolation(
            "breach_notification", "count the hours left by the sandbox clock "
            "(cms.clock.now()), not the computer's; a deadline that has passed leaves a "
            "negative number, and the notification then gives the reasons for the delay",
            records, article="art. 33(1) GDPR")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Whom to tell about a breach, and by when",
    principles=("breach_notification", "purpose_limitation"),
    task=(
        "decide_notifications(cms) returns, for every incident in the incidents table, "
        "{'risk': 'unlikely' | 'risk' | 'high' by the shop's method, 'authority': notify the "
        "Autoriteit Persoonsgegevens?, 'people': tell the people?, 'deadline': when the "
        "authority must have the notification, 'hours_left': hours from the sandbox clock to "
        "that deadline}, reading only under the 'breach_investigation' purpose."
    ),
    checks=(an_entry_for_each, the_right_risk, told_whom_the_law_asks, deadlines_from_awareness,
            hours_left_on_the_sandbox_clock),
    points=3,
    purpose=breach.PURPOSE,
    returns=dict,
    visible=Variant(scenario="webshop", seed=20160101, customers=300,
                    now=dt.datetime(2025, 3, 10, 9, 0)),
    hidden=Variant(scenario="webshop", customers=300, now=dt.datetime(2025, 4, 7, 9, 0)),
    prepare=prepare,
    expect=expect,
))
