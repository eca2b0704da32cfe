"""Exercise 05-on-time: when each open access request must be answered, and the extensions.

Art. 12(3) GDPR: answer within one month of receipt of the request; the period may be
extended by two further months where necessary (complexity, number of requests), if the
person is told, with the reasons, within the first month. A month is counted as Regulation
(EEC, Euratom) No 1182/71 art. 3 counts it: the day of receipt is not counted, and the period
ends at the end of the day in the next month with the same date as the day of receipt, or,
when that month has no such date, at the end of its last day (31 January -> 28 February).

The setup files open access requests (``dsr_requests``, kind ``export``) for random
customers, among filler requests, so their ids differ per seed; the boundary cases are
the same in every variant (:data:`FIXED_CASES`, all in 2025):

- received 31 January (late in the evening) -> 28 February; counting 30 days gives 2 March;
- received 10 February -> 10 March; 30 days gives 12 March;
- received 12 February from the address on the account, "checked" by the desk on
  24 February although it had no reasonable doubt -> 12 March (from receipt; art. 12(6)
  allows asking for more only on reasonable doubts, so no reading lets the period wait for
  that check);
- complex, notified on the last day of the first month (14 February) -> 14 April;
- complex, notified on 3 March, after the first month ended on 28 February -> 28 February
  (a late notice extends nothing);
- complex, first month over on 3 March, never notified -> 3 March (too late to extend);
- complex, received 6-20 days before the sandbox clock (chosen per variant), not yet
  notified: the learner tells the person now -> three months from receipt.

Every planted deadline falls on a working day that is not a Dutch public holiday
(``datasets/reference/nl_public_holidays.toml``), so the answer never depends on whether
1182/71 art. 3(4) moves a deadline off a weekend.

The learner writes ``plan_answers(cms, p, complex_requests) -> {request id: last day}`` with
``p`` the ``dsr_access`` context and ``complex_requests`` ``{request id: reason}`` (the
desk's triage). Checked: every open request has a date; the notice for each complex request
still in its first month was sent, to the address on the account, with the reason, dated
by the sandbox clock; no notice after a first month ended; each date is the right one.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import sqlite3
import tomllib
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation
from grading.exercises import _m04_boundaries as boundaries
from grading.exercises.m04_erasure_request import check_context_used_for
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.core.datafiles import DATASETS

EXERCISE_ID = "05-on-time"
PURPOSE = "dsr_access"
EXTENSION_SUBJECT = "Extension:"
"""Every extension notice's subject starts with this (planted ones and the learner's)."""
HOLIDAYS_FILE = DATASETS / "reference" / "nl_public_holidays.toml"
REASON = "your request covers several years of orders and disclosures to three recipients"


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months (1182/71 art. 3(2)(c)): the same date, or the month's last."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def holidays() -> set[dt.date]:
    with HOLIDAYS_FILE.open("rb") as f:
        return set(tomllib.load(f)["days"])


def working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in holidays()


# case -> (received, identity checked, complex, extension notice sent at)
FIXED_CASES: dict[str, tuple[str, str | None, bool, str | None]] = {
    "month_end": ("2025-01-31T23:40:00", None, False, None),
    "february": ("2025-02-10T09:15:00", None, False, None),
    "identity_checked_later": ("2025-02-12T08:30:00", "2025-02-24T16:00:00", False, None),
    "complex_notified_on_last_day": ("2025-01-14T10:00:00", None, True, "2025-02-14T17:00:00"),
    "complex_notified_too_late": ("2025-01-28T10:00:00", None, True, "2025-03-03T09:00:00"),
    "complex_first_month_over": ("2025-02-03T10:00:00", None, True, None),
}


def _fresh_case(now: dt.datetime, rng: random.Random) -> str:
    """A receipt 6-20 days before now whose one- and three-month deadlines are working days."""
    days = list(range(6, 21))
    rng.shuffle(days)
    for back in days:
        day = (now - dt.timedelta(days=back)).date()
        if day.day <= 28 and working_day(add_months(day, 1)) and working_day(add_months(day, 3)):
            return f"{day.isoformat()}T11:00:00"
    raise ValueError(f"no receipt date for the fresh complex case before {now}")  # pragma: no cover


def plant_requests(db_path: str, seed: int) -> dict[str, Any]:
    """File the open requests (and filler ones) in an order and with customers drawn from
    ``seed``; return each case's request id and the desk's triage."""
    rng = random.Random(f"on-time-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            now = boundaries.now_of(conn)
            cases = dict(FIXED_CASES)
            cases["complex_in_first_month"] = (_fresh_case(now, rng), None, True, None)
            names = list(cases)
            rng.shuffle(names)
            people = rng.sample([r[0] for r in conn.execute(
                "SELECT id FROM customers WHERE closed_at IS NULL ORDER BY id")],
                len(names))
            ids: dict[str, int] = {}
            for case, cid in zip(names, people, strict=True):
                for _ in range(rng.randrange(0, 3)):  # finished requests of others
                    conn.execute(
                        "INSERT INTO dsr_requests (kind, customer_id, token, status,"
                        " requested_at, confirmed_at, completed_at) VALUES ('erase', NULL,"
                        " 'done', 'completed', '2024-11-02T10:00:00', '2024-11-02T10:00:00',"
                        " '2024-11-20T10:00:00')")
                received, checked, _, notice = cases[case]
                request = conn.execute(
                    "INSERT INTO dsr_requests (kind, customer_id, token, status, requested_at,"
                    " confirmed_at) VALUES ('export', ?, ?, 'confirmed', ?, ?)",
                    (cid, f"mail-{case}", received, checked or received)).lastrowid
                ids[case] = request
                if notice:
                    email = conn.execute("SELECT email FROM customers WHERE id = ?",
                                         (cid,)).fetchone()[0]
                    conn.execute(
                        "INSERT INTO dsr_outbox (request_id, to_address, subject, body, sent_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (request, email, f"{EXTENSION_SUBJECT} we need two more months",
                         f"We need more time to answer your request: {REASON}.", notice))
    finally:
        conn.close()
    return {"requests": ids, "cases": {c: list(v) for c, v in cases.items()},
            "complex": {ids[c]: REASON for c, v in cases.items() if v[2]}}


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return plant_requests(str(cms.path), variant.seed or 0)


def _arguments(attempt: Attempt) -> tuple[dict[int, str]]:
    return (dict(attempt.context["complex"]),)


def _open_requests(attempt: Attempt) -> list[dict[str, Any]]:
    return attempt.query(
        "SELECT r.id, r.customer_id, r.requested_at, c.email FROM dsr_requests AS r"
        " JOIN customers AS c ON c.id = r.customer_id WHERE r.kind = 'export'"
        " AND r.status IN ('confirmed', 'awaiting_confirmation') ORDER BY r.id")


def expect(attempt: Attempt) -> dict[str, Any]:
    """The open requests and the outbox before the learner runs."""
    head = engine.read(attempt.cms, "SELECT COALESCE(MAX(id), 0) AS m FROM dsr_outbox")
    return {"open": _open_requests(attempt), "outbox_head": head[0]["m"]}


def _notices(attempt: Attempt, request_id: int) -> list[dict[str, Any]]:
    return [m for m in attempt.query(
        "SELECT id, to_address, subject, body, sent_at FROM dsr_outbox WHERE request_id = ?"
        " ORDER BY id", (request_id,)) if str(m["subject"]).startswith(EXTENSION_SUBJECT)]


def _first_month_end(received: str) -> dt.date:
    return add_months(dt.date.fromisoformat(received[:10]), 1)


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


# --- checks --------------------------------------------------------------------------


def a_date_for_each(attempt: Attempt) -> None:
    """Every open access request has a last day (a date or an ISO date string)."""
    answer = attempt.result
    missing = [r["id"] for r in attempt.expected["open"] if r["id"] not in answer]
    if missing:
        raise PrincipleViolation(
            "task", f"your answer has no date for open requests {', '.join(map(str, missing))}"
            " (keys: request ids from dsr_requests)")
    bad = [f"request {k}: {v!r}" for k, v in answer.items() if _as_date(v) is None]
    if bad:
        raise PrincipleViolation("task", "each value should be a date or an ISO date "
                                 "('2025-02-28')", bad)


def notices_in_time(attempt: Attempt) -> None:
    """Each complex request still in its first month was told of the extension now, by the
    sandbox clock, at the account's address, with the reason; none after its first month."""
    now = attempt.cms.clock.now()
    complex_requests = attempt.context["complex"]
    head = attempt.expected["outbox_head"]
    records = []
    for request in attempt.expected["open"]:
        rid = request["id"]
        end = _first_month_end(request["requested_at"])
        sent = [m for m in _notices(attempt, rid) if m["id"] > head]
        earlier = [m for m in _notices(attempt, rid) if m["id"] <= head]
        timely = any((_as_date(m["sent_at"]) or dt.date.max) <= end for m in earlier)
        if sent and now.date() > end:
            if not timely:  # a reminder of an extension told in time is harmless
                records.append(f"request {rid}: its first month ended on {end}, so an "
                               "extension notice now extends nothing; answer it now")
            continue
        for mail in sent:
            if mail["to_address"] != request["email"]:
                records.append(f"request {rid}: the notice went to {mail['to_address']!r}, "
                               "not to the address on the account")
            if complex_requests.get(rid, "\0") not in str(mail["body"]):
                records.append(f"request {rid}: the notice does not give the reason for the "
                               "delay")
            sent_on = _as_date(mail["sent_at"])
            if sent_on is None or sent_on > end:
                records.append(f"request {rid}: the notice is dated {mail['sent_at']}, after "
                               f"the first month ended on {end} (date it by cms.clock.now())")
        if rid in complex_requests and not sent and not earlier and now.date() <= end:
            records.append(f"request {rid}: the desk needs two more months, and its first "
                           f"month runs until {end}: tell the person now, with the reason")
    if records:
        raise PrincipleViolation(
            "response_time", "an extension counts only when the person is told, with the "
            "reasons, within the first month after receipt", records,
            article="art. 12(3) GDPR")


def right_dates(attempt: Attempt) -> None:
    """Each date is one month from receipt, or three when a timely notice was sent."""
    records = []
    for request in attempt.expected["open"]:
        rid = request["id"]
        received = dt.date.fromisoformat(request["requested_at"][:10])
        end = add_months(received, 1)
        extended = rid in attempt.context["complex"] and any(
            (_as_date(m["sent_at"]) or dt.date.max) <= end for m in _notices(attempt, rid))
        due = add_months(received, 3) if extended else end
        given = _as_date(attempt.result[rid])
        if given != due:
            why = ("three months from receipt: the extension was notified in time" if extended
                   else "one month from receipt")
            records.append(f"request {rid} received {received}: last day {due} ({why}), "
                           f"your answer {given}")
    if records:
        raise PrincipleViolation(
            "response_time", "count one month from receipt (not from an identity check the "
            "shop had no reason for, and not 30 days): to the same date in the next month, or "
            "that month's last day; two more months only with a notice in the first month",
            records, article="art. 12(3) GDPR; Regulation 1182/71 art. 3(2)(c)")


def only_the_requesters(attempt: Attempt) -> None:
    """The context wrote only about the people whose requests these are (5(1)(b))."""
    requesters = {r["customer_id"] for r in attempt.expected["open"]}
    check_context_used_for(attempt, engine.existing_ids(attempt.cms, "customers") - requesters,
                           "these requests only: the people who asked")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Answer access requests on time: one month from receipt, extended only when told",
    principles=("response_time", "purpose_limitation"),
    task=(
        "plan_answers(cms, p, complex_requests) returns {request id: last day to answer} for "
        "every open access request (dsr_requests, kind 'export'), and, with p (the "
        "'dsr_access' context handed over), sends an extension notice (subject starting "
        "'Extension:', the reason in the body, to the address on the account) for each "
        "complex request whose first month has not ended on the sandbox clock."
    ),
    checks=(a_date_for_each, notices_in_time, right_dates, only_the_requesters),
    points=3,
    purpose=PURPOSE,
    handover=PURPOSE,
    returns=dict,
    visible=Variant(scenario="webshop", seed=20150401, customers=300,
                    now=dt.datetime(2025, 3, 5, 9, 0)),
    hidden=Variant(scenario="webshop", customers=300, now=dt.datetime(2025, 3, 19, 9, 0)),
    prepare=prepare,
    expect=expect,
    arguments=_arguments,
))
