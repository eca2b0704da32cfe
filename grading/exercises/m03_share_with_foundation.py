"""Exercise 03-share-with-foundation: pass buyer details to the anti-piracy foundation only
for customers who may be shared now, and only the details their consent covers.

Story (source post 3): a watermarked copy of one title turns up on a download site. The
learner writes ``share_with_foundation(cms, sku) -> ids``: under the purpose
``antipiracy_sharing`` it shares, in one ``p.share(...)`` call, the buyers of that title
whose consent is valid *at the moment of sharing*, with exactly the
columns the consent text names (name, e-mail address, order number). The setup plants
buyers whose history makes the moment matter: a recent withdrawal after a grant at
checkout, a pre-ticked or terms-only "consent", a consent given after the purchase, a
withdrawal followed by a new grant. Checked: consent per customer at the share's time
(art. 6(1)(a), 7(3); recital 32; EDPB 05/2020 paras 79, 81), only buyers of the title and
only the named columns (5(1)(c)), and every access under the purpose (5(1)(b)).
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
from grading.harness import Attempt, Exercise, Variant, learner_stayed_in_purpose, register

EXERCISE_ID = "03-share-with-foundation"
PURPOSE = "antipiracy_sharing"
RECIPIENT = "antipiracy-foundation"
TEXT_VERSION = "antipiracy-v1"
# What the consent text (antipiracy-v1) lets the shop pass on: name, e-mail, order number.
CONSENTED_COLUMNS = frozenset(
    {"customers.first_name", "customers.last_name", "customers.email", "orders.id"}
)
TOLERATED_COLUMNS = frozenset({"customers.id"})  # the disclosure row names the customer anyway
SKUS = {20130927: "EB-0003", 8118: "EB-0005"}  # variant seed -> the title found online

# (label, events): each event is (kind, method, channel, when); when is "purchase" (one day
# before the buyer's order of the title), "early" (before it), "after" (between the order
# and now) or "recent" (three days before now).
PLANTED: tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...] = (
    ("withdrew after buying", (
        ("granted", "separate_checkbox", "checkout", "purchase"),
        ("withdrawn", "account_setting", "account", "recent"))),
    ("pre-ticked box at checkout", (("granted", "pre_ticked", "checkout", "purchase"),)),
    ("clause in the terms", (("granted", "bundled_terms", "checkout", "purchase"),)),
    ("consented after buying", (("granted", "account_setting", "account", "after"),)),
    ("withdrew, then consented again", (
        ("granted", "separate_checkbox", "checkout", "early"),
        ("withdrawn", "account_setting", "account", "purchase"),
        ("granted", "account_setting", "account", "after"))),
    ("pre-ticked, then a real tick", (
        ("granted", "pre_ticked", "checkout", "early"),
        ("granted", "separate_checkbox", "account", "after"))),
)


def buyers(cms: Any, sku: str) -> dict[int, str]:
    """Customers with an order of ``sku``: id -> time of their first such order."""
    rows = engine.read(
        cms,
        "SELECT o.customer_id, MIN(o.ordered_at) AS first FROM orders AS o"
        " JOIN order_items AS i ON i.order_id = o.id JOIN products AS p ON p.id = i.product_id"
        " WHERE p.sku = ? GROUP BY o.customer_id",
        (sku,),
    )
    return {r["customer_id"]: r["first"] for r in rows}


def plant_histories(cms: Any, sku: str, seed: int) -> dict[int, str]:
    """Give a few buyers of ``sku`` (without antipiracy events) the histories in PLANTED;
    return customer id -> label."""
    rng = random.Random(f"antipiracy-{seed}")
    now = cms.clock.now()
    with_events = {r["customer_id"] for r in engine.read(
        cms, "SELECT DISTINCT customer_id FROM consent_events WHERE purpose = ?", (PURPOSE,))}
    candidates = sorted(
        cid for cid, first in buyers(cms, sku).items()
        if cid not in with_events
        and dt.datetime.fromisoformat(first) < now - dt.timedelta(days=30)
        and dt.datetime.fromisoformat(first) > dt.datetime(2020, 3, 1)
    )
    chosen = rng.sample(candidates, len(PLANTED))
    planted = {}
    for cid, (label, events) in zip(chosen, PLANTED, strict=True):
        bought = dt.datetime.fromisoformat(buyers(cms, sku)[cid])
        moments = {
            "early": bought - dt.timedelta(days=40),
            "purchase": bought - dt.timedelta(days=1),
            "after": bought + (now - bought) / 2,
            "recent": now - dt.timedelta(days=3),
        }
        for kind, method, channel, when in events:
            cms.consent.record(cid, PURPOSE, kind, TEXT_VERSION, method, channel,
                               at=moments[when])
        planted[cid] = label
    return planted


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    sku = SKUS.get(variant.seed or 0, "EB-0001")
    return {"sku": sku, "planted": plant_histories(cms, sku, variant.seed or 0)}


def expect(attempt: Attempt) -> dict[str, Any]:
    cms = attempt.cms
    title_buyers = set(buyers(cms, attempt.context["sku"]))
    return {
        "buyers": title_buyers,
        "share": title_buyers & engine.eligible_customers(cms, PURPOSE),
        "disclosures_from": _last_disclosure(cms),
    }


def _last_disclosure(cms: Any) -> int:
    return int(engine.read(cms, "SELECT COALESCE(MAX(id), 0) AS m FROM disclosures")[0]["m"])


def one_share_with_the_foundation(attempt: Attempt) -> None:
    """The learner shared once, with the foundation, under the purpose, and returned the
    ids shared."""
    rows = engine.disclosures(attempt.cms, attempt.expected["disclosures_from"])
    if not rows:
        raise PrincipleViolation(
            "task", f"nothing was shared: call p.share({RECIPIENT!r}, ids, columns) inside "
            f"cms.processing({PURPOSE!r})")
    recipients = {r["recipient"] for r in rows}
    if recipients != {RECIPIENT}:
        raise PrincipleViolation(
            "task", f"share with the recipient {RECIPIENT!r} only; you shared with "
            f"{', '.join(sorted(recipients))}")
    purposes = {r["purpose"] for r in rows}
    if purposes != {PURPOSE}:
        raise PrincipleViolation(
            "purpose_limitation",
            f"the disclosure must run under the purpose {PURPOSE!r}, not "
            f"{', '.join(sorted(repr(p) for p in purposes - {PURPOSE}))}")
    batches = {(r["at"], tuple(r["columns"])) for r in rows}
    if len(batches) != 1:
        raise PrincipleViolation(
            "task", f"share in one p.share(...) call; you made {len(batches)} disclosures")
    shared = {r["customer_id"] for r in rows}
    if check_ids(attempt.result, "the return value") != shared:
        raise PrincipleViolation(
            "task", "return the ids of the customers you shared (they differ from the "
            "disclosure)")
    attempt.context["shared"] = shared
    attempt.context["at"] = rows[0]["at"]
    attempt.context["columns"] = set(rows[0]["columns"])


def everyone_shared_had_consent(attempt: Attempt) -> None:
    """Every shared customer had valid consent at the moment of the share."""
    shared = attempt.context["shared"]
    suspicious = shared - attempt.expected["share"]
    at = dt.datetime.fromisoformat(attempt.context["at"])
    decisions = engine.consent_decisions(attempt.cms, suspicious, PURPOSE, at=at)
    check_consent(suspicious, decisions, PURPOSE, "your disclosure")


def only_buyers_of_the_title(attempt: Attempt) -> None:
    """Only buyers of the title found online (a watermark can only point at them)."""
    extra = attempt.context["shared"] - attempt.expected["buyers"]
    if extra:
        raise PrincipleViolation(
            "minimisation",
            f"{len(extra)} shared customers did not buy {attempt.context['sku']}: the "
            "foundation needs only the buyers of the title found online",
            [f"customer {cid}" for cid in sorted(extra)],
        )
    check_complete(attempt.context["shared"], attempt.expected["share"], "your disclosure")


def only_the_consented_columns(attempt: Attempt) -> None:
    """Exactly the details the consent text names; nothing the purpose merely allows."""
    columns = attempt.context["columns"]
    learner_stayed_in_purpose(attempt)  # columns outside the purpose: 5(1)(b) first
    check_columns(columns, CONSENTED_COLUMNS | TOLERATED_COLUMNS,
                  context="your disclosure (the consent text covers name, e-mail address and "
                  "order number only)")
    missing = sorted(CONSENTED_COLUMNS - columns)
    if missing:
        raise PrincipleViolation(
            "task", "share what the consent covers and the foundation needs: name, e-mail "
            f"address and order number; missing: {', '.join(missing)}")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Share with the anti-piracy foundation only who and what may be shared",
    principles=("consent", "minimisation", "purpose_limitation"),
    task=(
        "share_with_foundation(cms, sku): under 'antipiracy_sharing', share with "
        f"{RECIPIENT!r} (one p.share call) the buyers of the title whose "
        "consent is valid now, with only the columns the consent text names; return their ids."
    ),
    checks=(one_share_with_the_foundation, everyone_shared_had_consent,
            only_buyers_of_the_title, only_the_consented_columns),
    points=4,
    purpose=PURPOSE,
    visible=Variant(scenario="ebooks", seed=20130927, customers=300),
    hidden=Variant(scenario="ebooks", seed=8118, customers=300,
                   now=dt.datetime(2025, 11, 3, 10, 0)),
    prepare=prepare,
    expect=expect,
    arguments=lambda attempt: (attempt.context["sku"],),
))
