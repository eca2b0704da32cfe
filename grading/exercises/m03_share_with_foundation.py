"""Exercise 03-share-with-foundation: answer the anti-piracy foundation's reports by passing
on only the buyer of each watermarked copy, only if that buyer's consent is valid at the
moment of sharing, and only the details that consent covers.

Story (source post 3): copies of e-books turn up on a download site. Each copy carries its
watermark: the number of the one order it was sold with. The foundation sends one report per
copy. The learner writes ``share_with_foundation(cms, reports) -> ids``: under the purpose
``antipiracy_sharing`` it shares with the foundation the buyer of each reported order whose
consent is valid *now* (the sandbox clock), with name and e-mail address (the order number
may go along: it is the foundation's own reference). When no reported buyer may be shared,
the lawful answer is to share nothing and return an empty list.

The setup plants one report per boundary case of the consent rules (see ``CASES``), plus a
consenting buyer of a reported title who is not reported. Checked: consent per customer at
the moment of each disclosure (art. 6(1)(a), 7(3); recital 32; EDPB 05/2020), only the
reported buyers (art. 5(1)(c): consent does not lift minimisation), only the columns the
consent text names (5(1)(c); outside the register: 5(1)(b)), nobody left out who may be
shared, and every access under the purpose (5(1)(b)).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from grading import engine
from grading.checks import (
    PrincipleViolation,
    check_columns,
    check_complete,
    check_consent,
    check_ids,
)
from grading.exercises._consent_history import Event, customers_without_events, record
from grading.harness import Attempt, Exercise, Variant, learner_stayed_in_purpose, register

EXERCISE_ID = "03-share-with-foundation"
PURPOSE = "antipiracy_sharing"
RECIPIENT = "antipiracy-foundation"
TEXT_VERSION = "antipiracy-v1"
NEWSLETTER_TEXT = "newsletter-v1"
# What the consent text (antipiracy-v1) lets the shop pass on: name and e-mail address of
# the buyer of the copy found, and that copy's order number (the foundation's reference).
NEEDED_COLUMNS = frozenset({"customers.first_name", "customers.last_name", "customers.email"})
CONSENTED_COLUMNS = NEEDED_COLUMNS | {"orders.id"}
# The shop's own customer number: the disclosure row names the customer anyway.
TOLERATED_COLUMNS = frozenset({"customers.id", "orders.customer_id"})
FOUND_DAYS_AGO = 5  # the foundation found the copies this many days before the sandbox's now
SITES = ("gratis-boeken", "ebook-dump", "leesvoer-free")

# (label, may be shared now, script): the script's moments are "bought" (the reported order),
# "mid1"/"mid2" (a third and two thirds of the way from the order to the find), "found"
# (when the copy was found), "after_found" (two days later, before now), "now" (the sandbox
# clock: the moment of sharing) and "future" (three days after now).
CASES: tuple[tuple[str, bool, tuple[tuple[str, str, str, str, str], ...]], ...] = (
    ("consented at checkout", True, (
        ("antipiracy_sharing", "granted", "separate_checkbox", "checkout", "bought"),)),
    ("consented exactly at the moment of sharing", True, (
        ("antipiracy_sharing", "granted", "account_setting", "account", "now"),)),
    ("consented after buying", True, (
        ("antipiracy_sharing", "granted", "account_setting", "account", "mid1"),)),
    ("withdrew, then consented again", True, (
        ("antipiracy_sharing", "granted", "separate_checkbox", "checkout", "bought"),
        ("antipiracy_sharing", "withdrawn", "account_setting", "account", "mid1"),
        ("antipiracy_sharing", "granted", "account_setting", "account", "mid2"))),
    ("pre-ticked, then a real tick", True, (
        ("antipiracy_sharing", "granted", "pre_ticked", "checkout", "bought"),
        ("antipiracy_sharing", "granted", "account_setting", "account", "mid1"))),
    ("withdrew exactly at the moment of sharing", False, (
        ("antipiracy_sharing", "granted", "separate_checkbox", "checkout", "bought"),
        ("antipiracy_sharing", "withdrawn", "account_setting", "account", "now"))),
    ("withdrew after the copy was found", False, (
        ("antipiracy_sharing", "granted", "separate_checkbox", "checkout", "bought"),
        ("antipiracy_sharing", "withdrawn", "account_setting", "account", "after_found"))),
    ("pre-ticked box at checkout", False, (
        ("antipiracy_sharing", "granted", "pre_ticked", "checkout", "bought"),)),
    ("clause in the terms", False, (
        ("antipiracy_sharing", "granted", "bundled_terms", "checkout", "bought"),)),
    ("box required to check out", False, (
        ("antipiracy_sharing", "granted", "required_for_checkout", "checkout", "bought"),)),
    ("grant dated after the moment of sharing", False, (
        ("antipiracy_sharing", "granted", "account_setting", "account", "future"),)),
    ("consented to the newsletter only", False, (
        ("newsletter", "granted", "separate_checkbox", "checkout", "bought"),)),
)
NOT_REPORTED = "consenting buyer of a reported title, not reported"


def _orders(cms: Any, customer_id: int) -> list[dict[str, Any]]:
    return engine.read(
        cms, "SELECT o.id, o.ordered_at, p.sku, p.name FROM orders AS o"
        " JOIN order_items AS i ON i.order_id = o.id JOIN products AS p ON p.id = i.product_id"
        " WHERE o.customer_id = ? ORDER BY o.ordered_at, o.id, i.id", (customer_id,))


def buyers(cms: Any, sku: str) -> set[int]:
    """Customers with an order of ``sku``."""
    rows = engine.read(
        cms, "SELECT DISTINCT o.customer_id FROM orders AS o JOIN order_items AS i"
        " ON i.order_id = o.id JOIN products AS p ON p.id = i.product_id WHERE p.sku = ?",
        (sku,))
    return {r["customer_id"] for r in rows}


def _moments(bought: dt.datetime, now: dt.datetime) -> dict[str, dt.datetime]:
    found = now - dt.timedelta(days=FOUND_DAYS_AGO)
    return {
        "bought": bought,
        "mid1": bought + (found - bought) / 3,
        "mid2": bought + (found - bought) * 2 / 3,
        "found": found,
        "after_found": found + dt.timedelta(days=2),
        "now": now,
        "future": now + dt.timedelta(days=3),
    }


def plant_reports(cms: Any, seed: int) -> dict[str, Any]:
    """Plant one buyer per case in ``CASES`` (customers without consent events, an order at
    least 60 days old) and the foundation's report on one of their orders; plant a consenting
    buyer of a reported title whom no report names. Returns the context of the exercise."""
    rng = random.Random(f"antipiracy-reports-{seed}")
    now = cms.clock.now()
    oldest = dt.datetime(2020, 3, 1)
    candidates = []
    for cid in customers_without_events(cms):
        usable = [o for o in _orders(cms, cid)
                  if oldest < dt.datetime.fromisoformat(o["ordered_at"])
                  < now - dt.timedelta(days=60)]
        if usable:
            candidates.append((cid, usable))
    chosen = rng.sample(candidates, len(CASES))
    reports, cases = [], {}
    for (cid, orders), (label, _, script) in zip(chosen, CASES, strict=True):
        order = rng.choice(orders)
        moments = _moments(dt.datetime.fromisoformat(order["ordered_at"]), now)
        for purpose, kind, method, channel, when in script:
            version = TEXT_VERSION if purpose == PURPOSE else NEWSLETTER_TEXT
            event: Event = (purpose, kind, version, method, channel, moments[when])
            record(cms, cid, event)
        cases[cid] = label
        reports.append(_report(order, moments["found"], rng))
    # A buyer of a reported title who consented at checkout, but whose copy nobody found.
    reported_skus = {r["sku"] for r in reports}
    taken = {cid for cid, _ in chosen}
    extra_cid, extra_order = rng.choice([
        (cid, order) for cid, orders in candidates if cid not in taken
        for order in orders if order["sku"] in reported_skus])
    record(cms, extra_cid, (PURPOSE, "granted", TEXT_VERSION, "separate_checkbox", "checkout",
                            dt.datetime.fromisoformat(extra_order["ordered_at"])))
    cases[extra_cid] = NOT_REPORTED
    rng.shuffle(reports)
    for n, report in enumerate(reports, start=1):
        report["id"] = f"R{n}"
    return {"reports": [dict(sorted(r.items())) for r in reports], "cases": cases}


def _report(order: dict[str, Any], found: dt.datetime, rng: random.Random) -> dict[str, Any]:
    site = rng.choice(SITES)
    return {
        "order_id": order["id"],  # the watermark: the order the copy was sold with
        "sku": order["sku"],
        "title": order["name"],
        "found_at": found.date().isoformat(),
        "found_on": f"https://{site}.example/{order['sku'].lower()}-{rng.randrange(10**6)}",
    }


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return plant_reports(cms, variant.seed or 0)


def reported_buyers(cms: Any, reports: list[dict[str, Any]]) -> dict[int, str]:
    """Customer id of each reported order -> the report's id."""
    found = {}
    for report in reports:
        rows = engine.read(cms, "SELECT customer_id FROM orders WHERE id = ?",
                           (report["order_id"],))
        for row in rows:
            found.setdefault(row["customer_id"], report["id"])
    return found


def expect(attempt: Attempt) -> dict[str, Any]:
    cms = attempt.cms
    reported = reported_buyers(cms, attempt.context["reports"])
    return {
        "reported": reported,
        "share": set(reported) & engine.eligible_customers(cms, PURPOSE),
        "disclosures_from": _last_disclosure(cms),
        "now": cms.clock.now().isoformat(),
    }


def _last_disclosure(cms: Any) -> int:
    return int(engine.read(cms, "SELECT COALESCE(MAX(id), 0) AS m FROM disclosures")[0]["m"])


def shared_with_the_foundation(attempt: Attempt) -> None:
    """Every disclosure went to the foundation under the purpose, and the ids returned are
    the ids shared (an empty list when nobody may be shared)."""
    rows = engine.disclosures(attempt.cms, attempt.expected["disclosures_from"])
    recipients = {r["recipient"] for r in rows}
    if recipients - {RECIPIENT}:
        raise PrincipleViolation(
            "task", f"share with the recipient {RECIPIENT!r} only; you shared with "
            f"{', '.join(sorted(recipients))}")
    purposes = {r["purpose"] for r in rows}
    if purposes - {PURPOSE}:
        raise PrincipleViolation(
            "purpose_limitation",
            f"the disclosure must run under the purpose {PURPOSE!r}, not "
            f"{', '.join(sorted(repr(p) for p in purposes - {PURPOSE}))}")
    shared = {r["customer_id"] for r in rows}
    if check_ids(attempt.result, "the return value") != shared:
        raise PrincipleViolation(
            "task", "return the ids of the customers you shared (they differ from the "
            "disclosures; return an empty list when you share nobody)")
    attempt.context["disclosed"] = rows
    attempt.context["shared"] = shared
    attempt.context["columns"] = {c for r in rows for c in r["columns"]}


def everyone_shared_had_consent(attempt: Attempt) -> None:
    """Every shared customer had valid consent at the moment of their disclosure."""
    now = attempt.expected["now"]
    by_moment: dict[str, set[int]] = {}
    for row in attempt.context["disclosed"]:
        by_moment.setdefault(row["at"], set()).add(row["customer_id"])
    for at, ids in sorted(by_moment.items()):
        suspicious = ids - attempt.expected["share"] if at == now else ids
        decisions = engine.consent_decisions(attempt.cms, suspicious, PURPOSE,
                                             at=dt.datetime.fromisoformat(at))
        check_consent(suspicious, decisions, PURPOSE, "your disclosure")


def only_the_reported_buyers(attempt: Attempt) -> None:
    """Only the buyers of the reported copies: the watermark points at one order each, and
    consent does not lift minimisation (art. 5(1)(c))."""
    extra = attempt.context["shared"] - set(attempt.expected["reported"])
    if extra:
        raise PrincipleViolation(
            "minimisation",
            f"{len(extra)} shared customers bought no copy the foundation reported: each "
            "watermark points at one order, so the foundation needs only that order's buyer; "
            "consent to the sharing does not make other buyers necessary (art. 5(1)(c); EDPB "
            "Guidelines 05/2020)",
            [f"customer {cid}" for cid in sorted(extra)],
        )


def only_the_consented_columns(attempt: Attempt) -> None:
    """Only the details the consent text names; nothing the register merely allows."""
    columns = attempt.context["columns"]
    learner_stayed_in_purpose(attempt)  # columns outside the register: 5(1)(b) first
    check_columns(columns, CONSENTED_COLUMNS | TOLERATED_COLUMNS,
                  context="your disclosure (the consent text covers name, e-mail address and "
                  "the order number of the copy found only)")
    missing = sorted(NEEDED_COLUMNS - columns) if attempt.context["shared"] else []
    if missing:
        raise PrincipleViolation(
            "task", "share what the consent covers and the foundation needs to act on its "
            f"report: name and e-mail address; missing: {', '.join(missing)}")


def nobody_left_out(attempt: Attempt) -> None:
    """Every reported buyer whose consent is valid now was shared."""
    check_complete(attempt.context["shared"], attempt.expected["share"], "your disclosure")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    # The title names no principle: recognising them is the exercise (review section 4,
    # P1); a failing grade still names principle and article.
    title="The foundation's reports: pass on what the shop may pass on",
    principles=("consent", "minimisation", "purpose_limitation"),
    names_principle=False,
    task=(
        "share_with_foundation(cms, reports): under 'antipiracy_sharing', share with "
        f"{RECIPIENT!r} the buyer of each reported order whose consent is valid now, with "
        "name and e-mail address only (the order number may go along); share nobody else; "
        "return the ids shared (an empty list if nobody may be shared)."
    ),
    checks=(shared_with_the_foundation, everyone_shared_had_consent,
            only_the_reported_buyers, only_the_consented_columns, nobody_left_out),
    points=4,
    purpose=PURPOSE,
    visible=Variant(scenario="ebooks", seed=20130927, customers=300),
    hidden=Variant(scenario="ebooks", customers=300,
                   now=dt.datetime(2025, 11, 3, 10, 0)),
    prepare=prepare,
    expect=expect,
    arguments=lambda attempt: ([dict(r) for r in attempt.context["reports"]],),
))
