"""Module 00's warm-up: send the newsletter only to customers who may receive it.

The learner writes ``send_newsletter(cms) -> list[int]``: inside
``cms.processing("newsletter")`` it sends one mailing to every customer whose newsletter
consent is valid now, and returns the ids it mailed. The reference engine asks the
consent ledger (``cms.consent``), so a pre-ticked box, a bundled "consent" or a later
withdrawal all count the way art. 4(11) and 7 GDPR say.

``prepare`` plants the boundary cases of those rules for any seed (``CASES``): a sign-up and
an unsubscribe exactly at the moment of sending, a sign-up dated after it, a sign-up again
after unsubscribing, a pre-ticked box, accepting the terms, and a consent for another
purpose only.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation, check_complete, check_consent, check_ids
from grading.exercises._consent_history import customers_without_events, record
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "00-newsletter-consent"
PURPOSE = "newsletter"
TEXT_VERSION = "newsletter-v2"
OTHER_PURPOSE, OTHER_TEXT = "antipiracy_sharing", "antipiracy-v1"

# (label, may be mailed now, script of (purpose, event, method, channel, when)); when is
# "early" (200 days before now), "mid" (100 days), "late" (30 days), "now" (the moment of
# sending) or "future" (three days after it).
CASES: tuple[tuple[str, bool, tuple[tuple[str, str, str, str, str], ...]], ...] = (
    ("signed up with a separate box", True, (
        (PURPOSE, "granted", "separate_checkbox", "checkout", "early"),)),
    ("signed up exactly at the moment of sending", True, (
        (PURPOSE, "granted", "account_setting", "account", "now"),)),
    ("unsubscribed exactly at the moment of sending", False, (
        (PURPOSE, "granted", "separate_checkbox", "checkout", "early"),
        (PURPOSE, "withdrawn", "unsubscribe_link", "email", "now"))),
    ("signed up again after unsubscribing", True, (
        (PURPOSE, "granted", "separate_checkbox", "checkout", "early"),
        (PURPOSE, "withdrawn", "unsubscribe_link", "email", "mid"),
        (PURPOSE, "granted", "account_setting", "account", "late"))),
    ("pre-ticked box", False, (
        (PURPOSE, "granted", "pre_ticked", "checkout", "early"),)),
    ("accepted the terms", False, (
        (PURPOSE, "granted", "bundled_terms", "checkout", "early"),)),
    ("sign-up dated after the moment of sending", False, (
        (PURPOSE, "granted", "account_setting", "account", "future"),)),
    ("consented to another purpose only", False, (
        (OTHER_PURPOSE, "granted", "separate_checkbox", "checkout", "early"),)),
)
OFFSETS = {"early": -200, "mid": -100, "late": -30, "now": 0, "future": 3}


def plant_cases(cms: Any, seed: int | None) -> dict[int, str]:
    """Give one customer without consent events each history in ``CASES``; returns
    customer id -> label."""
    rng = random.Random(f"newsletter-boundaries-{seed}")
    now = cms.clock.now()
    chosen = rng.sample(customers_without_events(cms), len(CASES))
    planted = {}
    for cid, (label, _, script) in zip(chosen, CASES, strict=True):
        for purpose, kind, method, channel, when in script:
            version = TEXT_VERSION if purpose == PURPOSE else OTHER_TEXT
            at = now + dt.timedelta(days=OFFSETS[when])
            record(cms, cid, (purpose, kind, version, method, channel, at))
        planted[cid] = label
    return planted


def _prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return {"cases": plant_cases(cms, variant.seed)}


def _expect(attempt: Attempt) -> dict:
    cms = attempt.cms
    return {
        "eligible": engine.eligible_customers(cms, PURPOSE),
        "mailing_from": engine.last_mailing_id(cms),
    }


def one_newsletter_sent(attempt: Attempt) -> None:
    """Exactly one mailing under the newsletter purpose, listing the returned ids."""
    sent = engine.mailings(attempt.cms, attempt.expected["mailing_from"])
    if len(sent) != 1:
        raise PrincipleViolation(
            "task", f"send exactly one mailing with p.send_mailing(...); you sent {len(sent)}"
        )
    mailing = sent[0]
    if mailing["purpose"] != PURPOSE:
        raise PrincipleViolation(
            "purpose_limitation",
            f"the newsletter went out under purpose {mailing['purpose']!r}, not 'newsletter'",
        )
    returned = check_ids(attempt.result, "the return value")
    if returned != mailing["recipients"]:
        raise PrincipleViolation(
            "task", "return the ids of the customers you mailed (they differ from the mailing)"
        )
    attempt.context["mailing"] = mailing


def recipients_consented(attempt: Attempt) -> None:
    """Every recipient had valid newsletter consent when the mailing was sent."""
    mailing = attempt.context["mailing"]
    recipients = mailing["recipients"]
    suspicious = recipients - attempt.expected["eligible"]
    decisions = engine.consent_decisions(attempt.cms, suspicious, PURPOSE)
    check_consent(suspicious, decisions, PURPOSE, f"mailing {mailing['id']}")


def nobody_left_out(attempt: Attempt) -> None:
    """Every customer who may receive the newsletter got it."""
    check_complete(attempt.context["mailing"]["recipients"], attempt.expected["eligible"],
                   "your mailing")


EXERCISE = register(
    Exercise(
        id=EXERCISE_ID,
        title="Send the newsletter only to customers who may receive it",
        principles=("consent", "purpose_limitation"),
        task=(
            "Write send_newsletter(cms): under the purpose 'newsletter', send one mailing to "
            "every customer whose newsletter consent is valid now, and return their ids."
        ),
        checks=(one_newsletter_sent, recipients_consented, nobody_left_out),
        points=2,
        purpose=PURPOSE,
        visible=Variant(scenario="webshop", customers=300),
        hidden=Variant(scenario="webshop", customers=300),
        prepare=_prepare,
        expect=_expect,
    )
)
