"""Exercise 05-verify-identity: verify proportionately, and never tell who is a customer.

The task names no principle (``names_principle=False``): the learner gets six mails and
must recognise what the law asks of the replies; a failure names principle and article.

Art. 12(6) GDPR: only where the controller has reasonable doubts about the identity of the
person making the request may it ask for the information necessary to confirm it; art. 12(2):
it must facilitate the request. EDPB Guidelines 01/2022 on the right of access: verification
must be proportionate, and asking for a copy of an identity document is generally not
appropriate where the person can be authenticated the way they usually are (for a webshop:
the e-mail address of the account). A reply to an unverified sender that says "we have no
customer with that address" tells a stranger who is a customer: a disclosure of its own.

The setup puts six mails in the shop's inbox (ids and people drawn from the seed), the same
kinds in every variant:

- ``own_address``: a customer writes from the address on their account about themselves;
- ``own_address_other_case``: the same, the address typed with capitals (addresses match
  without regard to case);
- ``stranger_about_customer``: an address not on file asks for a customer's data;
- ``stranger_about_nobody``: an address not on file asks for the data of an address not on
  file;
- ``customer_about_other``: a customer writes from their own address about another
  customer's data;
- ``customer_about_nobody``: the same customer asks about an address not on file.

The learner writes ``reply_to_requests(cms, p, inbox) -> {mail id: {"to", "body", "copy"}}``
with ``p`` the ``dsr_access`` context. Checked: a reply for every mail; the two verified
requests get a copy of the right person's data at the account's address; the other four get
no copy and go back to the sender, and the replies to the same sender about a customer and
about a non-customer are the same (with the mail's own addresses taken out), so nobody learns
who is a customer; no reply asks for an identity document; nothing was
exported about the people whose requests are not verified.
"""

from __future__ import annotations

import random
import re
import sqlite3
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation
from grading.exercises.m04_erasure_request import check_context_used_for
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "05-verify-identity"
PURPOSE = "dsr_access"
VERIFIED = ("own_address", "own_address_other_case")
UNVERIFIED = ("stranger_about_customer", "stranger_about_nobody", "customer_about_other",
              "customer_about_nobody")
PAIRS = (("stranger_about_customer", "stranger_about_nobody"),
         ("customer_about_other", "customer_about_nobody"))
"""Replies to the same sender about a customer and about a non-customer: must be equal."""
ID_DOCUMENT = re.compile(
    r"passport|identity card|id[- ]card|copy of (?:your |an? )?(?:id|identity)\b|"
    r"driving licen[cs]e|driver'?s licen[cs]e|identiteitsbewijs|paspoort|rijbewijs|"
    r"\bbsn\b|citizen service number|proof of identity|identity document|id document",
    re.I)


def plant_inbox(db_path: str, seed: int) -> dict[str, Any]:
    """Six mails from and about people drawn from ``seed``; return the inbox and who is who."""
    rng = random.Random(f"verify-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT id, email FROM customers WHERE closed_at IS NULL"
                            " ORDER BY id").fetchall()
    finally:
        conn.close()
    own, case, about, writer, other = rng.sample(rows, 5)
    tag = f"{seed % 100000:05d}"
    known = {e.lower() for _, e in rows}
    stranger = f"reader-{tag}@example.net"
    nobody = f"nobody-{tag}@example.org"
    if stranger in known or nobody in known:  # pragma: no cover - reserved for the grader
        raise ValueError("a planted stranger's address is on file")
    capitals = "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(case[1]))
    mails = {
        "own_address": (own[1], own[1], own[0]),
        "own_address_other_case": (capitals, capitals, case[0]),
        "stranger_about_customer": (stranger, about[1], about[0]),
        "stranger_about_nobody": (stranger, nobody, None),
        "customer_about_other": (writer[1], other[1], other[0]),
        "customer_about_nobody": (writer[1], nobody.replace("nobody", "nobody-else"), None),
    }
    kinds = list(mails)
    rng.shuffle(kinds)
    first = rng.randrange(100, 900)
    inbox, cases = [], {}
    for offset, kind in enumerate(kinds):
        sender, subject_of, cid = mails[kind]
        mail_id = first + 7 * offset
        inbox.append({"id": mail_id, "from": sender, "about": subject_of,
                      "text": f"Please send me a copy of all personal data you hold about "
                              f"{subject_of} (art. 15 GDPR)."})
        cases[kind] = {"mail": mail_id, "customer_id": cid}
    return {"inbox": inbox, "cases": cases}


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return plant_inbox(str(cms.path), variant.seed or 0)


def _arguments(attempt: Attempt) -> tuple[list[dict[str, Any]]]:
    return ([dict(m) for m in attempt.context["inbox"]],)


def expect(attempt: Attempt) -> dict[str, Any]:
    emails = {r["id"]: r["email"] for r in engine.read(
        attempt.cms, "SELECT id, email FROM customers")}
    return {"emails": emails}


def _mail(attempt: Attempt, kind: str) -> dict[str, Any]:
    mail_id = attempt.context["cases"][kind]["mail"]
    return next(m for m in attempt.context["inbox"] if m["id"] == mail_id)


def _normalised(body: str, mail: dict[str, Any]) -> str:
    for address in (mail["from"], mail["about"]):
        body = re.sub(re.escape(address), "<address>", body, flags=re.I)
    return " ".join(body.split())


# --- checks --------------------------------------------------------------------------


def a_reply_each(attempt: Attempt) -> None:
    """One reply per mail: a dict with 'to', 'body' and 'copy'."""
    answer = attempt.result
    records = []
    for mail in attempt.context["inbox"]:
        reply = answer.get(mail["id"])
        if not isinstance(reply, dict) or not {"to", "body", "copy"} <= set(reply):
            records.append(f"mail {mail['id']}: no reply dict with 'to', 'body' and 'copy'")
        elif not isinstance(reply["body"], str) or not reply["body"].strip():
            records.append(f"mail {mail['id']}: the body is empty")
    if records:
        raise PrincipleViolation("task", "answer each mail of the inbox by its id", records)


def no_identity_document(attempt: Attempt) -> None:
    """Nobody is asked for a passport or ID copy: the account's address is the way this shop
    knows its customers (EDPB Guidelines 01/2022; 12(6) only on reasonable doubts)."""
    records = [f"mail {mail_id}: {match.group(0)!r}" for mail_id, reply in
               attempt.result.items() if isinstance(reply, dict)
               for match in [ID_DOCUMENT.search(str(reply.get("body", "")))] if match]
    if records:
        raise PrincipleViolation(
            "identity_verification", "asking for an identity document is disproportionate "
            "here: the shop knows its customers by the address of their account, so a "
            "confirmation from that address suffices (and a copy of an ID is data the shop "
            "would then have to protect and delete)", records)


def verified_answered(attempt: Attempt) -> None:
    """A request from the address on the account is answered: a copy of that person's data,
    sent to that address."""
    records = []
    for kind in VERIFIED:
        mail, case = _mail(attempt, kind), attempt.context["cases"][kind]
        reply = attempt.result[mail["id"]]
        address = attempt.expected["emails"][case["customer_id"]]
        copy = reply.get("copy")
        customer = copy.get("customer") if isinstance(copy, dict) else None
        if not isinstance(customer, dict):
            records.append(f"mail {mail['id']} came from the address on customer "
                           f"{case['customer_id']}'s account but got no copy")
            continue
        if customer.get("id") != case["customer_id"] or \
                str(customer.get("email", "")).lower() != address.lower():
            records.append(f"mail {mail['id']}: the copy is not customer "
                           f"{case['customer_id']}'s account")
        if str(reply.get("to", "")).strip().lower() != address.lower():
            records.append(f"mail {mail['id']}: the copy goes to {reply.get('to')!r}, not to "
                           "the address on the account")
    if records:
        raise PrincipleViolation(
            "identity_verification", "a request from the address on the account leaves no "
            "reasonable doubt (12(6)); answer it, at that address (addresses match without "
            "regard to capitals)", records, article="art. 12(2), 12(6) and 15 GDPR")


def unverified_reveal_nothing(attempt: Attempt) -> None:
    """The unverified requests get no copy and a reply to the sender; a sender gets the same
    reply about a customer as about a non-customer: who is a customer cannot be read from it."""
    records = []
    bodies = {}
    for kind in UNVERIFIED:
        mail = _mail(attempt, kind)
        reply = attempt.result[mail["id"]]
        if reply.get("copy"):
            records.append(f"mail {mail['id']} ({mail['from']} about {mail['about']}) got a "
                           "copy of personal data")
        if str(reply.get("to", "")).strip().lower() != mail["from"].lower():
            records.append(f"mail {mail['id']}: the reply goes to {reply.get('to')!r}, not "
                           "back to the sender")
        bodies[kind] = _normalised(str(reply.get("body", "")), mail)
    for pair in PAIRS:
        if bodies[pair[0]] != bodies[pair[1]]:
            shown = "; ".join(f"mail {_mail(attempt, k)['id']}: {bodies[k][:80]!r}"
                              for k in pair)
            records.append("the replies to the same sender differ between a customer and a "
                           f"non-customer: {shown}")
    if records:
        raise PrincipleViolation(
            "identity_verification", "until the sender shows it is their own data, send no "
            "data and no hint: the same reply whether or not the address belongs to a "
            "customer, asking them to confirm from the address on the account", records)


def nothing_exported_for_strangers(attempt: Attempt) -> None:
    """The context exported nothing about a person whose request is not verified."""
    verified = {attempt.context["cases"][k]["customer_id"] for k in VERIFIED}
    check_context_used_for(
        attempt, engine.existing_ids(attempt.cms, "customers") - verified,
        "the verified requests only: the people who wrote from their own address")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Six mails in the inbox, each asking for a copy of personal data",
    principles=("identity_verification", "purpose_limitation"),
    names_principle=False,
    task=(
        "reply_to_requests(cms, p, inbox) answers each mail the way the shop should, reading "
        "with p (the 'dsr_access' context handed over), and returns {mail id: {'to', 'body', "
        "'copy'}}; the shop knows its customers by their account's e-mail address."
    ),
    checks=(a_reply_each, no_identity_document, verified_answered, unverified_reveal_nothing,
            nothing_exported_for_strangers),
    points=3,
    purpose=PURPOSE,
    handover=PURPOSE,
    returns=dict,
    visible=Variant(scenario="webshop", seed=20150501, customers=300),
    hidden=Variant(scenario="webshop", customers=300),
    prepare=prepare,
    expect=expect,
    arguments=_arguments,
))
