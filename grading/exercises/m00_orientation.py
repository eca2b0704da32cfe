"""Module 00's warm-up: send the newsletter only to customers who may receive it.

The learner writes ``send_newsletter(cms) -> list[int]``: inside
``cms.processing("newsletter")`` it sends one mailing to every customer whose newsletter
consent is valid now, and returns the ids it mailed. The reference engine asks the
consent ledger (``cms.consent``), so a pre-ticked box, a bundled "consent" or a later
withdrawal all count the way art. 4(11) and 7 GDPR say.
"""

from __future__ import annotations

from grading import engine
from grading.checks import PrincipleViolation, check_complete, check_consent, check_ids
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "00-newsletter-consent"
PURPOSE = "newsletter"


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
        expect=_expect,
    )
)
