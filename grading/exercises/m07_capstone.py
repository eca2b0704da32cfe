"""Module 07 (capstone): a week of the e-book shop, Monday to Saturday, one situation a day.

No task names its principle: each day's situation arrives as the shop would meet it (the
desk's tickets, a mail, the nightly job, a vendor's offer, the foundation's reports), and the
learner must recognise what the law asks. Every day is graded by the engine of the module that
taught it, on the ``ebooks`` scenario and the capstone's clock: the exercise is that module's
exercise (its ``prepare``, ``expect``, ``arguments`` and ``checks``, so the same boundaries are
planted in both variants whatever the seed, and a wrong decision is told which principle it
broke), with the e-book shop, the day of the week and a task that names no rule.

- Monday 09:00, the desk's incidents of the weekend: 06-notify (art. 33, 34);
- Monday, the same tickets on file: 06-register (art. 33(5));
- Tuesday, a customer asks what the shop holds on her: 05-access-copy (art. 15);
- Tuesday afternoon, six more mails asking for copies, from customers and strangers:
  05-verify-identity (art. 12(6), 12(2));
- Wednesday, a customer asks to be forgotten: 05-pass-on-erasure (art. 17, 17(3)(b), 19);
- Thursday, the nightly retention run: 04-retention-job (art. 5(1)(e), 17(3)(b));
- Friday, the shortlist of analytics vendors: 02-transfer-plan's dossier and judge with the
  e-book shop's own vendor set (:data:`ANALYTICS`; Chapter V);
- Saturday, the anti-piracy foundation's reports: 03-share-with-foundation (art. 6(1)(a), 7,
  5(1)(c)).

The visible week starts on Monday 1 September 2025, the hidden one on Monday 5 January 2026:
after a year end, so a retention run that hard-codes the year deletes or keeps the wrong
invoices, and every deadline moves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from grading.exercises import m02_transfer_plan as m02
from grading.exercises import m03_share_with_foundation as m03
from grading.exercises import m04_retention_job as m04
from grading.exercises import m05_access_copy as m05_access
from grading.exercises import m05_pass_on_erasure as m05_erasure
from grading.exercises import m05_verify_identity as m05_identity
from grading.exercises import m06_notify as m06
from grading.exercises import m06_register as m06_register
from grading.harness import Exercise, Variant, register

SCENARIO = "ebooks"
CUSTOMERS = 300
MONDAYS = {"visible": dt.datetime(2025, 9, 1, 9, 0), "hidden": dt.datetime(2026, 1, 5, 9, 0)}
"""The Monday 09:00 each week starts on (module 06's incidents need a Monday morning)."""
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def day_of(variant: str, day: str, hour: int = 9) -> dt.datetime:
    """The moment ``hour``:00 on ``day`` of the visible or hidden week."""
    monday = MONDAYS[variant]
    return monday.replace(hour=hour) + dt.timedelta(days=DAYS.index(day))


def _week(base: Exercise, exercise_id: str, day: str, hour: int, title: str, task: str,
          **changes: Any) -> Exercise:
    """``base`` on the e-book shop, on ``day`` of the week, under a task that names no rule."""
    return register(dataclasses.replace(
        base, id=exercise_id, title=title, task=task, names_principle=False,
        visible=Variant(scenario=SCENARIO, seed=base.visible.seed or 20250901,
                        customers=CUSTOMERS, now=day_of("visible", day, hour)),
        hidden=Variant(scenario=SCENARIO, customers=CUSTOMERS, now=day_of("hidden", day, hour)),
        **changes))


# --- Friday: the e-book shop's analytics shortlist ------------------------------------------

C = m02.Case
CONTACT = ("identity", "contact")
READING = (*CONTACT, "order_history")
ANALYTICS: tuple[m02.Case, ...] = (
    # "hosted in the EU", and its sub-processor in the US has let its certification lapse
    C("reading-stats", "reading statistics", "processor", m02.SYS, m02.EU_OTHER, READING,
      sub=m02.US, dpf="inactive", claim=True),
    # the same claim, with a sub-processor that is certified for customer data
    C("sales-dashboards", "sales dashboards", "processor", m02.SYS, m02.EU_OTHER, READING,
      sub=m02.US, dpf="active", claim=True),
    # in the US, not certified itself (a namesake is), SCCs with a transfer impact assessment
    C("web-analytics", "web analytics", "processor", m02.SYS, m02.US, READING, dpf="decoy",
      scc="tia"),
    # SCCs signed, the assessment never made
    C("heatmaps", "click heatmaps", "processor", m02.SYS, m02.NO_DECISION, CONTACT,
      scc="no_tia"),
    # an adequate country
    C("ab-testing", "A/B testing", "processor", m02.SYS, m02.ADEQUATE, CONTACT),
    # an EEA country outside the EU, support from another
    C("audience", "audience reports", "processor", m02.SYS, m02.EFTA, READING,
      support=m02.EFTA),
)
"""The vendors the e-book shop considers for its analytics, one per boundary (the fixed
cases of 02-transfer-plan's judge); names, places and dates drawn from the seed."""
ANALYTICS_SEEDS = {None: 20250905}


def prepare_vendors(cms: Any, variant: Variant) -> dict[str, Any]:
    """The analytics dossier in a folder beside the sandbox, dated on the sandbox clock."""
    today = cms.clock.now().date()
    dossier = m02.generate_dossier(ANALYTICS_SEEDS.get(variant.seed, variant.seed or 0), today,
                                   ANALYTICS)
    folder = m02.write_dossier(Path(cms.path).parent / "vendor-dossier", dossier)
    return {"dossier": dossier, "folder": folder, "today": today}


def analytics_dossier(cms: Any, folder: str | Path | None = None, seed: int = 7) -> Path:
    """A dossier like the grader's Friday one (other names, places and dates from ``seed``,
    dated on ``cms``'s clock), written to ``folder`` (default: beside the sandbox)."""
    target = Path(folder) if folder is not None else Path(cms.path).parent / "analytics-dossier"
    return m02.write_dossier(target, m02.generate_dossier(seed, cms.clock.now().date(),
                                                          ANALYTICS))


# --- the week -------------------------------------------------------------------------------

MONDAY = _week(
    m06.EXERCISE, "07-monday-tickets", "monday", 9,
    "Monday: four tickets from the weekend",
    "weekend_tickets(cms) returns, for every ticket in the incidents table, {'risk': "
    "'unlikely' | 'risk' | 'high' by the shop's method, 'authority': bool, 'people': bool, "
    "'deadline': the moment the authority's deadline ends (or None), 'hours_left': hours from "
    "the sandbox clock to it}, reading only under the 'breach_investigation' purpose.")

MONDAY_PAPERWORK = _week(
    m06_register.EXERCISE, "07-monday-paperwork", "monday", 9,
    "Monday: the paperwork",
    "file_tickets(cms, decisions) writes into the breach_register table, under the "
    "'breach_investigation' purpose, what the shop keeps on file about the weekend's tickets "
    "(decisions: Monday's decision per ticket, handed over); a row holds the facts, effects, "
    "remedial action, categories, number of people, who was told and the reasons, and when "
    "it was recorded.")

TUESDAY = _week(
    m05_access.EXERCISE, "07-tuesday-mail", "tuesday", 10,
    "Tuesday: \"What do you have on me?\"",
    "answer_mail(cms, p, email) returns what the shop sends the customer who wrote from that "
    "address, read with p (the 'dsr_access' context handed over): the sections of the shop's "
    "export (customer, source, orders, invoices, consent_events, mailings_received, "
    "disclosures, requests, audit_trail, purposes, retention_rules, storage_locations).")

TUESDAY_AFTERNOON = _week(
    m05_identity.EXERCISE, "07-tuesday-inbox", "tuesday", 15,
    "Tuesday afternoon: six more mails",
    "reply_to_inbox(cms, p, inbox) answers each mail the way the shop should, reading with p "
    "(the 'dsr_access' context handed over), and returns {mail id: {'to', 'body', 'copy'}}; "
    "the shop knows its customers by their account's e-mail address.")

WEDNESDAY = _week(
    m05_erasure.EXERCISE, "07-wednesday-goodbye", "wednesday", 10,
    "Wednesday: \"Please forget me\"",
    "forget_customer(cms, p, email) handles the mail of the customer who wrote from that "
    "address with p (the 'dsr_erasure' context handed over; erase_customers may be used) and "
    "returns one notice per party outside the shop that has to hear of it: {'recipient': name, "
    "'columns': [what it received]}.")

THURSDAY = _week(
    m04.EXERCISE, "07-thursday-night-run", "thursday", 2,
    "Thursday night: the clean-up job",
    "night_run(cms, p) does tonight's run of the schedule in cms.retention.rules() with p "
    "(the 'retention_enforcement' context handed over), at the sandbox clock's time.")

FRIDAY = _week(
    m02.EXERCISE, "07-friday-vendors", "friday", 9,
    "Friday: which analytics vendor may start?",
    "assess_analytics(cms, dossier) reads the dossier of the analytics shortlist "
    "(vendors.json, subprocessors.csv, dpf-list.csv) and the dated lists of the sandbox, and "
    "returns {vendor name: 'EEA', '45', '46', '49(1)(a)', '49(1)(b)' or 'missing'}.",
    prepare=prepare_vendors)

SATURDAY = _week(
    m03.EXERCISE, "07-saturday-foundation", "saturday", 10,
    "Saturday: the foundation's reports",
    "answer_foundation(cms, reports) handles the foundation's reports under "
    "'antipiracy_sharing' (recipient 'antipiracy-foundation') and returns the ids of the "
    "customers whose details went to it (an empty list if none).")

WEEK = (MONDAY, MONDAY_PAPERWORK, TUESDAY, TUESDAY_AFTERNOON, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY)
TAUGHT_BY = {MONDAY.id: "06-notify", MONDAY_PAPERWORK.id: "06-register",
             TUESDAY.id: "05-access-copy",
             TUESDAY_AFTERNOON.id: "05-verify-identity",
             WEDNESDAY.id: "05-pass-on-erasure", THURSDAY.id: "04-retention-job",
             FRIDAY.id: "02-transfer-plan", SATURDAY.id: "03-share-with-foundation"}
"""Each day's exercise and the exercise of the module that taught it (the recap table)."""
