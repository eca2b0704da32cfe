"""Exercise 04-retention-job: the nightly job that carries out the shop's retention schedule.

The setup reduces the schedule to four rules (invoices seven years from the end of the
financial year of the invoice date; an account N days after its last order or the end of
its last warranty; a closed account after 30 days; newsletter receipts 30 days after a
withdrawal), with N different per variant, plants newsletter mailings so that withdrawn
subscribers have receipts, and plants the boundary of every rule (``_m04_boundaries``):
invoices of an account erased earlier on both sides of the tax boundary, a zero-total order,
accounts due exactly now and a day later, a warranty ending now and a cancelled order inside
what would have been its warranty. The clocks lie in 2025, while the data ends on 31 Dec
2024, so an answer that reads the wall clock instead of ``cms.clock.now()`` counts a later
year and deletes invoices the tax duty still keeps. The learner writes
``retention_job(cms, p)``: with ``p``, the processing context for the internal purpose
``retention_enforcement`` the harness hands over, it reads the schedule from
``cms.retention.rules()``, finds what is due at the clock's time, and deletes or erases it.

The reference is the sandbox's own schedule (``cms.retention.due()``): after the job nothing
may be due (storage limitation, art. 5(1)(e)); no invoice under the tax duty may be gone
(art. 17(3)(b), AWR art. 52(4)); an erased account leaves no row that carries its id
(linkability, WP29 Opinion 05/2014); and no account the schedule still keeps (a running
warranty) is erased early.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation, check_kept, check_nothing_overdue
from grading.checks import _describe_due as describe_due
from grading.exercises import _m04_boundaries as boundaries
from grading.exercises.m04_erasure_request import (
    check_context_used_for,
    reference_actions,
    rows_linked_to,
)
from grading.harness import Attempt, Exercise, Variant, learner_stayed_in_purpose, register

EXERCISE_ID = "04-retention-job"
PURPOSE = "retention_enforcement"
RULES = ("invoices", "customer_accounts", "closed_accounts", "newsletter_history")
ACCOUNT_RULES = ("customer_accounts", "closed_accounts")
VISIBLE_SEED = 20140301
# days an account is kept after its last order or warranty: the visible variant, any other
INACTIVE_DAYS = (365, 548)
MAILINGS_DAYS_AGO = (700, 400, 200, 90, 45)
WITHDRAWN_DAYS_AGO = 35  # after the last mailing, more than the rule's 30 days ago
WITHDRAWALS = 3


def install_schedule(db_path: str, inactive_days: int) -> list[boundaries.Boundary]:
    """Reduce the sandbox's schedule to the exercise's four rules, with ``inactive_days``;
    plant newsletter mailings to the subscribers of the moment and the boundary rows."""
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            marks = ", ".join("?" * len(RULES))
            conn.execute(f"DELETE FROM retention_rules WHERE name NOT IN ({marks})", RULES)
            conn.execute("UPDATE retention_rules SET period_days = ? WHERE name ="
                         " 'customer_accounts'", (inactive_days,))
            now = boundaries.now_of(conn)
            # Invoices of an account an earlier run erased: kept unlinked, now on both
            # sides of the tax boundary.
            planted = boundaries.plant_invoices(conn, None)
            planted += boundaries.plant_accounts(conn, inactive_days)
            for days in MAILINGS_DAYS_AGO:
                sent = (now - dt.timedelta(days=days)).isoformat(timespec="seconds")
                mailing = conn.execute(
                    "INSERT INTO mailings (purpose, subject, sent_at) VALUES ('newsletter', ?, ?)",
                    (f"Trampoline news {sent[:7]}", sent)).lastrowid
                conn.execute(
                    "INSERT INTO mailing_recipients (mailing_id, customer_id)"
                    " SELECT ?, customer_id FROM ("
                    "  SELECT customer_id, event, ROW_NUMBER() OVER (PARTITION BY customer_id"
                    "   ORDER BY at DESC, id DESC) AS n FROM consent_events"
                    "  WHERE purpose = 'newsletter' AND at <= ?)"
                    " WHERE n = 1 AND event = 'granted'"
                    " AND customer_id IN (SELECT id FROM customers)",
                    (mailing, sent))
            # Recent buyers who withdrew after the last mailing: their account stays, their
            # newsletter receipts must go.
            withdrawn_at = (now - dt.timedelta(days=WITHDRAWN_DAYS_AGO)).isoformat(
                timespec="seconds")
            recent = (now - dt.timedelta(days=inactive_days + 700)).isoformat()
            for (cid,) in conn.execute(
                "SELECT DISTINCT r.customer_id FROM mailing_recipients AS r"
                " JOIN orders AS o ON o.customer_id = r.customer_id"
                " WHERE r.mailing_id = ? AND o.ordered_at > ? ORDER BY r.customer_id LIMIT ?",
                (mailing, recent, WITHDRAWALS)).fetchall():
                conn.execute(
                    "INSERT INTO consent_events (customer_id, purpose, event, at, text_version,"
                    " method, channel, provenance_id) VALUES (?, 'newsletter', 'withdrawn', ?,"
                    " 'newsletter-v2', 'unsubscribe_link', 'email', 1)", (cid, withdrawn_at))
    finally:
        conn.close()
    return planted


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    days = INACTIVE_DAYS[0] if variant.seed == VISIBLE_SEED else INACTIVE_DAYS[1]
    planted = install_schedule(str(cms.path), days)
    return {"inactive_days": days, "boundaries": boundaries.as_context(planted)}


def expect(attempt: Attempt) -> dict[str, Any]:
    """What is due now, the invoices under the tax duty, and when each kept account is due."""
    cms = attempt.cms
    due = engine.overdue(cms)
    erased = {i.customer_id for i in due if i.rule in ACCOUNT_RULES}
    later = cms.retention.due(at=cms.clock.now() + dt.timedelta(days=3650))
    kept_until = {i.customer_id: i.due for i in later
                  if i.rule in ACCOUNT_RULES and i.customer_id not in erased}
    return {
        "due": due,
        "erased": erased,
        "kept_until": kept_until,
        "under_duty": engine.invoices_under_duty(cms),
    }


def did_it_by_hand(attempt: Attempt) -> None:
    """cms.retention.due / apply / summary are the reference; the learner writes the job."""
    reference_actions(attempt, "retention", ("read", "write", "delete", "erase"),
                      "cms.retention (due, summary, apply)")


def only_what_is_due(attempt: Attempt) -> None:
    """The handed-over context exported no customer's data (art. 5(1)(b)): it serves
    retention, which deletes and erases and hands nothing out. (An account erased before its
    time is judged by ``nobody_erased_early``, which names the warranty or the period.)"""
    everyone = {r["id"] for r in engine.read(attempt.cms, "SELECT id FROM customers")}
    check_context_used_for(attempt, everyone | set(attempt.expected["kept_until"]),
                           "retention enforcement only: deleting and erasing what the "
                           "schedule makes due now", actions=frozenset({"export"}))


def invoices_under_duty_kept(attempt: Attempt) -> None:
    """No invoice younger than the tax period was deleted (art. 17(3)(b))."""
    check_kept({"invoices": engine.existing_ids(attempt.cms, "invoices")},
               {"invoices": attempt.expected["under_duty"]},
               reason="the tax duty keeps it until 31 December of its year + 7, counted on "
                      "the sandbox clock, not in days from the invoice date (AWR art. 52(4); "
                      "BW 2:10(3) or 3:15i)")


def nothing_overdue(attempt: Attempt) -> None:
    """After the job the schedule finds nothing due (art. 5(1)(e)); a due account that is
    still there but flagged or blanked gets a hint."""
    items = engine.overdue(attempt.cms)
    accounts = {i.customer_id for i in items if i.rule in ACCOUNT_RULES}
    if accounts:
        marks = ", ".join("?" * len(accounts))
        touched = attempt.query(
            f"SELECT id FROM customers WHERE id IN ({marks}) AND (closed_at > ?"  # noqa: S608
            " OR email LIKE '%@anonymised.invalid')",
            [*sorted(accounts), attempt.cms.clock.now().isoformat()[:10]])
        if touched:
            raise PrincipleViolation(
                "storage_limitation",
                f"{len(items)} records are kept past their retention period; customers such "
                f"as {touched[0]['id']} were flagged or had their name blanked, but the account "
                "and its history are still there: a flag is not erasure",
                [describe_due(i) for i in items])
    hints = _boundary_hints(attempt, items)
    if hints:
        raise PrincipleViolation(
            "storage_limitation", f"{len(items)} record{'s are' if len(items) > 1 else ' is'}"
            f" kept past its retention period; {'; '.join(hints)}",
            [describe_due(i) for i in items])
    check_nothing_overdue(items)


def _boundary_hints(attempt: Attempt, items: list[Any]) -> list[str]:
    """What a kept-too-long row at a planted boundary says about the mistake."""
    planted = {row["id"]: case for case, row in attempt.context.get("boundaries", {}).items()
               if row["table"] == "customers"}
    now = attempt.cms.clock.now().isoformat()
    hints = []
    for item in items:
        case = planted.get(item.customer_id) if item.table == "customers" else None
        if case == "account_due_exactly_now" and item.due == now:
            hints.append(f"customer {item.customer_id}'s period ends exactly now: a row is due "
                         "at its due moment (due <= now), not only after it")
        elif case == "account_cancelled_in_warranty":
            hints.append(f"customer {item.customer_id}'s only trampoline order was cancelled: "
                         "a cancelled order carries no warranty (nothing was delivered)")
    return hints


def erased_accounts_leave_no_links(attempt: Attempt) -> None:
    """An erased account's orders, invoices, consents and receipts no longer carry its id."""
    gone = attempt.expected["erased"] - engine.existing_ids(attempt.cms, "customers")
    found = rows_linked_to(attempt, gone) if gone else []
    if found:
        raise PrincipleViolation(
            "anonymisation", "the customer rows are gone, but other rows still carry their "
            "ids: with the name on a kept invoice the id links the whole history back to the "
            "person (WP29 Opinion 05/2014: linkability), so this is not anonymous", found)


def nobody_erased_early(attempt: Attempt) -> None:
    """Accounts the schedule still keeps (recent order, running warranty) are untouched."""
    kept_until = attempt.expected["kept_until"]
    rows = attempt.query("SELECT id, email FROM customers")
    present = {r["id"] for r in rows if not r["email"].endswith("@anonymised.invalid")}
    early = sorted(set(kept_until) - present)
    if early:
        raise PrincipleViolation(
            "task", f"{len(early)} accounts were erased before the schedule lets them go "
            "(a recent order, a zero-total one included, or a running warranty: the buyer may "
            "still claim, art. 6(1)(b)); the schedule keeps them until the date shown, "
            "counted on the sandbox clock (cms.clock.now())",
            [f"customer {cid}: kept until {kept_until[cid][:10]}" for cid in early])


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="The retention job: delete what is due, keep what the law requires",
    principles=("storage_limitation", "legal_retention", "anonymisation", "purpose_limitation"),
    task=(
        "retention_job(cms, p) carries out the schedule in cms.retention.rules() at the "
        "sandbox clock's time with p, the 'retention_enforcement' context the grader hands "
        "over: invoices past 31 December of their year + 7 deleted, accounts at or past the "
        "end of their period erased (invoices under the tax duty kept, unlinked; a cancelled "
        "order carries no warranty), newsletter receipts of withdrawn subscribers deleted."
    ),
    checks=(learner_stayed_in_purpose, did_it_by_hand, only_what_is_due,
            invoices_under_duty_kept,
            nothing_overdue, erased_accounts_leave_no_links, nobody_erased_early),
    points=5,
    purpose=PURPOSE,
    handover=PURPOSE,
    # The clocks lie after the data (which ends on 31 Dec 2024) and years before any wall
    # clock that will grade this, so reading the wall clock always counts a later year.
    visible=Variant(scenario="webshop", seed=20140301, customers=300,
                    now=dt.datetime(2025, 9, 15, 9, 0)),
    hidden=Variant(scenario="webshop", customers=300,
                   now=dt.datetime(2025, 4, 1, 9, 0)),
    prepare=prepare,
    expect=expect,
    timeout=60.0,
))
