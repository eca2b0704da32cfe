"""Exercise 05-pass-on-erasure: erase a customer and tell each recipient of their data.

Art. 19 GDPR: the controller communicates an erasure (17(1)) to each recipient to whom the
personal data have been disclosed, unless that proves impossible or involves
disproportionate effort, and tells the person about those recipients if they ask. The
shop knows its recipients from the disclosure records (``disclosures``), which the erasure
itself deletes: read them first, or use the report of the erasure routine
(``ErasureReport.notify``).

The setup picks a customer with an invoice and gives them disclosures to the anti-piracy
foundation (twice, with different columns), the mailing service and the payment provider;
another customer has a disclosure to a review platform, a third party the requester's data
never went to. The learner writes ``pass_on_erasure(cms, p, email) -> list[dict]`` with
``p`` the ``dsr_erasure`` context handed over: it erases the person (the routine
``sandbox_cms.privacy.erasure.erase_customers`` may be used, with
``ProcessingDb(p)``) and returns one notice per recipient, ``{"recipient": name,
"columns": [what it received]}``.

Checked: the person is erased (the row, the address, every link; the invoices under the tax
duty kept); every recipient of their data got a notice naming everything it received;
nobody else did, except a processor of the register (telling the shop's own processor
discloses nothing new); the context changed nobody else's data.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation
from grading.exercises import m04_erasure_request as m04
from grading.exercises._m04_boundaries import now_of
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "05-pass-on-erasure"
PURPOSE = "dsr_erasure"
NAME = ["customers.first_name", "customers.last_name"]
DISCLOSED = (  # recipient, purpose, columns, days before now
    ("antipiracy-foundation", "antipiracy_sharing", [*NAME, "customers.email", "orders.id"], 400),
    ("antipiracy-foundation", "antipiracy_sharing", [*NAME, "customers.email"], 90),
    ("mail-service", "newsletter", ["customers.first_name", "customers.email"], 30),
    ("payment-provider", "order_fulfilment", [*NAME, "orders.total_cents"], 200),
)
STRANGER = ("review-platform", "customer_service", [*NAME, "customers.email"], 60)
"""A recipient of another customer's data only."""


def plant_disclosures(db_path: str, seed: int) -> dict[str, Any]:
    """The customer of 04's erasure setup, with the disclosures above; another customer's
    disclosure to the review platform."""
    context = m04.plant_file(db_path, seed)
    cid = context["customer_id"]
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            now = now_of(conn).replace(microsecond=0)
            conn.execute("DELETE FROM disclosures WHERE customer_id = ?", (cid,))
            for recipient, purpose, columns, days in DISCLOSED:
                conn.execute(
                    "INSERT INTO disclosures (customer_id, recipient, purpose, columns, at)"
                    " VALUES (?, ?, ?, ?, ?)", (cid, recipient, purpose, json.dumps(columns),
                                                (now - dt.timedelta(days=days)).isoformat()))
            other = conn.execute("SELECT id FROM customers WHERE id != ? AND closed_at IS NULL"
                                 " ORDER BY id LIMIT 1 OFFSET ?", (cid, seed % 50)).fetchone()[0]
            recipient, purpose, columns, days = STRANGER
            conn.execute(
                "INSERT INTO disclosures (customer_id, recipient, purpose, columns, at)"
                " VALUES (?, ?, ?, ?, ?)", (other, recipient, purpose, json.dumps(columns),
                                            (now - dt.timedelta(days=days)).isoformat()))
    finally:
        conn.close()
    return {**context, "other": other}


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return plant_disclosures(str(cms.path), variant.seed or 0)


def expect(attempt: Attempt) -> dict[str, Any]:
    """04's expectation of the erasure, plus who received what and the register's processors."""
    expected = m04.expect(attempt)
    received: dict[str, set[str]] = {}
    for row in engine.read(attempt.cms, "SELECT recipient, columns FROM disclosures"
                           " WHERE customer_id = ?", (attempt.context["customer_id"],)):
        received.setdefault(row["recipient"], set()).update(json.loads(row["columns"]))
    expected["received"] = received
    expected["processors"] = {r["name"] for r in engine.read(
        attempt.cms, "SELECT name FROM storage_locations WHERE kind = 'processor'")}
    return expected


def _arguments(attempt: Attempt) -> tuple[str]:
    return (attempt.context["email"],)


# --- checks --------------------------------------------------------------------------


def notices_shaped(attempt: Attempt) -> None:
    """A list of notices, each a dict with a recipient and the columns it received."""
    bad = [f"notice {i}: {str(n)[:60]!r}" for i, n in enumerate(attempt.result)
           if not isinstance(n, dict) or not isinstance(n.get("recipient"), str)
           or not isinstance(n.get("columns"), (list, tuple, set))]
    if bad:
        raise PrincipleViolation(
            "task", "return a list of notices, each {'recipient': name, 'columns': [...]}", bad)


def each_recipient_told(attempt: Attempt) -> None:
    """Every recipient of the person's data got a notice naming all it received; nobody else
    did, apart from the shop's own processors."""
    received = attempt.expected["received"]
    told: dict[str, set[str]] = {}
    for notice in attempt.result:
        told.setdefault(notice["recipient"], set()).update(map(str, notice["columns"]))
    records = [f"{name} received {', '.join(sorted(cols))} and was not told"
               for name, cols in sorted(received.items()) if name not in told]
    records += [f"{name} was told, but not that it received {', '.join(sorted(cols - told[name]))}"
                for name, cols in sorted(received.items())
                if name in told and cols - told[name]]
    records += [f"{name} never received this person's data, and now knows of them"
                for name in sorted(set(told) - set(received) - attempt.expected["processors"])]
    if records:
        raise PrincipleViolation(
            "recipients_notified", "tell each recipient the disclosure records name (read them "
            "before the erasure deletes them), with what it received, and nobody else", records)


def only_the_requester(attempt: Attempt) -> None:
    """The handed-over context changed or exported no other customer's data (5(1)(b))."""
    m04.check_context_used_for(attempt, attempt.expected["others"],
                               "this request only: the person who asked")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Erase a customer and tell each recipient of their data",
    principles=("recipients_notified", "erasure", "legal_retention", "purpose_limitation"),
    task=(
        "pass_on_erasure(cms, p, email) erases the customer with p (the 'dsr_erasure' context "
        "handed over; the routine erase_customers may be used) and returns one notice per "
        "recipient the disclosure records name: {'recipient': name, 'columns': [what it "
        "received]}."
    ),
    checks=(notices_shaped, only_the_requester, m04.email_gone, m04.customer_row_gone,
            m04.nothing_links_back, m04.invoices_kept_as_issued, m04.others_untouched,
            each_recipient_told),
    points=3,
    purpose=PURPOSE,
    handover=PURPOSE,
    returns=list,
    visible=Variant(scenario="webshop", seed=20150601, customers=300,
                    now=dt.datetime(2025, 6, 16, 10, 0)),
    hidden=Variant(scenario="webshop", customers=300, now=dt.datetime(2025, 11, 3, 10, 0)),
    prepare=prepare,
    expect=expect,
    arguments=_arguments,
))
