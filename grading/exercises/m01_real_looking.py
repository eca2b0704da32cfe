"""Exercise 01-real-looking: find the real-looking records planted in a "training dump".

A colleague's training dump (a list of dicts) is mostly synthetic, but a few records were
planted that look like real people: an address at a free-mail or Dutch provider domain, a
nine-digit number that passes the BSN 11-proof, an IBAN with a real bank's code (all values
invented), an address on a look-alike real domain (example.nl, example.co.uk, myexample.com).
Boundary decoys that are *not* real-looking are planted too, for any seed: reserved
look-alikes (example.com.evil.test, a subdomain of example.org, example.invalid) and IBANs
with a real bank's code but wrong check digits (no account has that number). The learner
returns the ids of the real-looking records; the grade compares them with the planted ones
on recall (none missed) and precision (few false alarms).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from typing import Any

from grading.checks import PrincipleViolation, check_ids
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.data.guard import iban_is_valid, make_iban, passes_elfproef
from sandbox_cms.data.reference import load_reference

EXERCISE_ID = "01-real-looking"
MIN_RECALL = 0.9
MIN_PRECISION = 0.8
DUMP_SIZE = 400
PLANTED_PER_KIND = 3
PLANT_KINDS = ("free_mail", "provider_mail", "bsn_reference", "bsn_note", "real_iban",
               "lookalike_mail")
# Boundary cases planted in every dump, whatever the seed (issue 9 item 3):
# registrable domains that merely contain "example" are real domains: flag them ...
LOOKALIKE_DOMAINS = ("example.nl", "example.co.uk", "myexample.com")
# ... while these look alike but are reserved (RFC 2606 / RFC 6761): not real.
RESERVED_LOOKALIKES = ("example.com.evil.test", "klantenservice.example.org", "example.invalid")
# A real bank's code with check digits that fail mod-97 is no account at all (no bank issues
# it, payments refuse it): it cannot belong to anyone, so it is not real-looking.
BAD_CHECK_IBANS = 6
OTHER_RESERVED = ("mail.springveer.test", "shop.example", "klant.invalid")
SAFE_NOTES = (
    "Prefers delivery after 17:00.",
    "Asked about the warranty on the safety net.",
    "Order {number} was delayed by the carrier.",
    "Parcel {number} returned to sender.",
    "Wants invoices by e-mail only.",
    "",
)


@dataclass(frozen=True)
class Planted:
    """A planted real-looking record and why it looks real."""

    record_id: int
    kind: str
    reason: str


def _non_bsn(rng: random.Random) -> str:
    """A nine-digit number that fails the 11-proof (an order or customer reference)."""
    while True:
        number = f"{rng.randrange(10**8, 10**9)}"
        if not passes_elfproef(number):
            return number


def _bsn(rng: random.Random) -> str:
    """An invented nine-digit number that passes the 11-proof."""
    while True:
        number = f"{rng.randrange(10**8, 10**9)}"
        if passes_elfproef(number):
            return number


def bad_check_iban(bank_code: str, account: int) -> str:
    """A real bank's IBAN shape whose check digits are wrong: no account anywhere."""
    good = make_iban(bank_code, account)
    wrong = f"{(int(good[2:4]) + 1 + account % 7) % 97 + 2:02d}"  # never the right pair
    return good[:2] + wrong + good[4:]


def make_dump(db_path: str, seed: int, size: int = DUMP_SIZE) -> tuple[list[dict], list[Planted]]:
    """A training dump built from the sandbox's synthetic customers, with planted records."""
    rng = random.Random(f"dump-{seed}")
    ref = load_reference()
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        customers = conn.execute(
            "SELECT id, first_name, last_name, email, phone, iban, birth_date FROM customers"
            " ORDER BY id LIMIT ?", (size,),
        ).fetchall()
    finally:
        conn.close()
    dump = []
    for i, (cid, first, last, email, phone, iban, _birth) in enumerate(customers, start=1):
        note = rng.choice(SAFE_NOTES).format(number=_non_bsn(rng))
        local, _, _domain = email.partition("@")
        if rng.random() < 0.08:  # reserved, but not example.com: .test and .example count too
            email = f"{local}@{rng.choice(OTHER_RESERVED)}"
        elif rng.random() < 0.04:  # a harmless local part that mentions a free-mail brand
            email = f"gmail.fan.{cid}@example.net"
        dump.append({
            "id": 1000 + i * 7, "customer_id": cid, "name": f"{first} {last}", "email": email,
            "phone": phone, "iban": iban, "reference": _non_bsn(rng), "note": note,
        })
    free = sorted(d for d in ref.free_mail if d.endswith((".com", ".nl")))
    providers = sorted(ref.provider_mail)
    real_codes = sorted(ref.real_banks)
    n_planted = PLANTED_PER_KIND * len(PLANT_KINDS)
    n_decoys = BAD_CHECK_IBANS + len(RESERVED_LOOKALIKES)
    targets = rng.sample(range(len(dump)), n_planted + n_decoys)
    planted = []
    for n, index in enumerate(targets[:n_planted]):
        row, kind = dump[index], PLANT_KINDS[n % len(PLANT_KINDS)]
        first, last = (part.lower().replace(" ", "") for part in row["name"].split(" ", 1))
        year = rng.randrange(1950, 2005)
        if kind == "free_mail":
            domain = rng.choice(free)
            row["email"] = f"{first}.{last}{year}@{domain}"
            reason = f"e-mail on the free-mail domain {domain}"
        elif kind == "provider_mail":
            domain = rng.choice(providers)
            row["email"] = f"{first[0]}{last}@{domain}"
            reason = f"e-mail on the Dutch provider domain {domain}"
        elif kind == "lookalike_mail":
            domain = LOOKALIKE_DOMAINS[(n // len(PLANT_KINDS)) % len(LOOKALIKE_DOMAINS)]
            row["email"] = f"{first}.{last}@{domain}"
            reason = (f"e-mail on {domain}, a real registrable domain (only example.com/.net/"
                      ".org and the TLDs .test, .example, .invalid are reserved)")
        elif kind == "bsn_reference":
            row["reference"] = _bsn(rng)
            reason = f"reference {row['reference']} passes the 11-proof (a possible BSN)"
        elif kind == "bsn_note":
            bsn = _bsn(rng)
            row["note"] = f"Customer gave BSN {bsn[:4]}.{bsn[4:6]}.{bsn[6:]} for the invoice."
            reason = "note holds a number that passes the 11-proof (a possible BSN)"
        else:
            code = rng.choice(real_codes)
            row["iban"] = make_iban(code, rng.randrange(10**9, 10**10))
            reason = f"IBAN with the real bank code {code} ({ref.real_banks[code]})"
        planted.append(Planted(row["id"], kind, reason))
    for n, index in enumerate(targets[n_planted:]):
        row = dump[index]
        if n < BAD_CHECK_IBANS:
            row["iban"] = bad_check_iban(rng.choice(real_codes), rng.randrange(10**9, 10**10))
        else:
            local = row["email"].partition("@")[0]
            row["email"] = f"{local}@{RESERVED_LOOKALIKES[n - BAD_CHECK_IBANS]}"
    return dump, sorted(planted, key=lambda p: p.record_id)


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    dump, planted = make_dump(str(cms.path), seed=variant.seed or 0)
    return {"dump": dump, "planted": planted}


def arguments(attempt: Attempt) -> tuple[list[dict]]:
    # A copy, so a learner who changes the rows cannot change what is graded.
    return ([dict(row) for row in attempt.context["dump"]],)


def score(flagged: set[int], planted: list[Planted]) -> tuple[float, float]:
    """(precision, recall) of the flagged ids against the planted records."""
    expected = {p.record_id for p in planted}
    hits = len(flagged & expected)
    precision = hits / len(flagged) if flagged else 0.0
    recall = hits / len(expected) if expected else 1.0
    return precision, recall


def good_recall(attempt: Attempt) -> None:
    """At least MIN_RECALL of the planted records were found; the message names those missed."""
    flagged = check_ids(attempt.result, "the flagged record ids")
    planted = attempt.context["planted"]
    _, recall = score(flagged, planted)
    if recall < MIN_RECALL:
        missed = [p for p in planted if p.record_id not in flagged]
        raise PrincipleViolation(
            "synthetic_only",
            f"your scan found {recall:.0%} of the real-looking records (at least "
            f"{MIN_RECALL:.0%} needed); each one missed stays in a training database and may "
            "be a real person",
            [f"record {p.record_id}: {p.reason}" for p in missed],
        )


def good_precision(attempt: Attempt) -> None:
    """At most 1 - MIN_PRECISION of the flagged records are false alarms."""
    flagged = check_ids(attempt.result, "the flagged record ids")
    planted = attempt.context["planted"]
    precision, _ = score(flagged, planted)
    if precision < MIN_PRECISION:
        expected = {p.record_id for p in planted}
        by_id = {row["id"]: row for row in attempt.context["dump"]}
        wrong = sorted(flagged - expected)
        raise PrincipleViolation(
            "task",
            f"only {precision:.0%} of the records you flagged look real (at least "
            f"{MIN_PRECISION:.0%} needed): a scanner that flags demonstrably synthetic "
            "values (reserved domains, fictional bank codes, numbers failing the 11-proof) "
            "gets ignored",
            [f"record {i} is synthetic: {_describe(by_id.get(i))}" for i in wrong],
        )


def _describe(row: dict | None) -> str:
    """Why a record is demonstrably synthetic, in a few words."""
    if row is None:
        return "not in the dump"
    parts = [f"e-mail domain {row['email'].rpartition('@')[2]} is reserved"]
    if row["iban"] and not iban_is_valid(row["iban"]):
        parts.append(f"IBAN {row['iban']} fails its check digits (mod 97): no bank account "
                     "has that number, so it cannot belong to anyone")
    elif row["iban"]:
        parts.append(f"IBAN bank code {row['iban'][4:8]} is fictional")
    parts.append("no number in it passes the 11-proof")
    return ", ".join(parts)


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Find the real-looking records in a training dump",
    principles=("synthetic_only",),
    task=(
        "find_real_looking(cms, dump) returns the ids of the records in `dump` that look "
        "like real people: e-mail on a real mail domain, a number passing the BSN 11-proof "
        "(in any field), or an IBAN of a real bank."
    ),
    checks=(good_recall, good_precision),
    points=3,
    returns=(set, list, tuple, frozenset),
    visible=Variant(scenario="webshop", seed=20140301, customers=DUMP_SIZE),
    hidden=Variant(scenario="ebooks", customers=DUMP_SIZE),
    prepare=prepare,
    arguments=arguments,
))
