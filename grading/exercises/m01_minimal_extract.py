"""Exercise 01-minimal-extract: the smallest extract that reproduces a bug, pseudonymised.

The setup plants refunds in the sandbox: orders with a negative total whose credit note
carries the VAT with the wrong sign (the bug), one customer with two of them, and an order
with a total of exactly 0 (the boundary of "negative": it stays out). The learner
returns one dict per negative-total order with exactly the keys the developer needs and a
keyed pseudonym for the customer, reading under the purpose ``bug_fixing``. Checked:
minimisation of rows and columns (art. 5(1)(c)), pseudonymisation (art. 4(5), 25(1)) by the
shared judge ``grading.pseudonyms`` (which reads the learner function's source for a literal
key), purpose and audit trail (art. 5(1)(b), 5(2)). The extract's ``order_id`` still links
back to production, so the extract stays personal data (the task says so).
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections import defaultdict
from typing import Any

from grading import engine, pseudonyms
from grading.checks import PrincipleViolation, check_rows
from grading.harness import Attempt, Exercise, Variant, learner_stayed_in_purpose, register
from grading.pseudonyms import function_in_call, learner_source

EXERCISE_ID = "01-minimal-extract"
PURPOSE = "bug_fixing"
KEYS = ("order_id", "status", "total_cents", "amount_cents", "vat_cents", "customer")
VALUE_KEYS = ("status", "total_cents", "amount_cents", "vat_cents")
VAT_PERCENT = 21
REFUNDED_CUSTOMERS = 4  # the first of them gets two refunds


def plant_refunds(db_path: str, seed: int) -> list[int]:
    """Add refund orders with a negative total and a wrong-sign VAT credit note; return
    their order ids."""
    rng = random.Random(f"refunds-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            now = conn.execute("SELECT value FROM meta WHERE key = 'clock_now'").fetchone()[0]
            candidates = conn.execute(
                "SELECT o.id, o.customer_id, o.ordered_at, o.total_cents, i.billing_name,"
                " i.billing_street, i.billing_postcode, i.billing_city"
                " FROM orders AS o JOIN invoices AS i ON i.order_id = o.id"
                " WHERE o.status = 'delivered' ORDER BY o.id"
            ).fetchall()
            by_customer: dict[int, list[tuple]] = defaultdict(list)
            for row in candidates:
                by_customer[row[1]].append(row)
            customers = rng.sample(sorted(by_customer), REFUNDED_CUSTOMERS)
            originals = [by_customer[c][0] for c in customers]
            originals.append(by_customer[customers[0]][0])  # a second refund, same customer
            planted = []
            for n, (_oid, cid, ordered_at, total, name, street, postcode, city) in enumerate(
                originals, start=1
            ):
                part = total if n != len(originals) else total // 2
                moment = min(dt.datetime.fromisoformat(ordered_at)
                             + dt.timedelta(days=rng.randrange(3, 40)),
                             dt.datetime.fromisoformat(now))
                order_id = conn.execute(
                    "INSERT INTO orders (customer_id, ordered_at, status, total_cents,"
                    " provenance_id) VALUES (?, ?, 'refunded', ?, 1)",
                    (cid, moment.isoformat(), -part),
                ).lastrowid
                vat = round(part * VAT_PERCENT / (100 + VAT_PERCENT))
                conn.execute(
                    "INSERT INTO invoices (number, order_id, customer_id, issued_at,"
                    " billing_name, billing_street, billing_postcode, billing_city,"
                    " amount_cents, vat_cents, provenance_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (f"CN-{seed % 10000:04d}-{n:03d}", order_id, cid, moment.date().isoformat(),
                     name, street, postcode, city, -part, vat),  # the bug: VAT keeps its sign
                )
                planted.append(order_id)
    finally:
        conn.close()
    return planted


def plant_zero_total(db_path: str, seed: int) -> int:
    """The boundary of the bug's rule: a refund that exactly cancels a voucher leaves an
    order with a total of 0 (not negative, so not in the extract: ``< 0``, not ``<= 0``)."""
    rng = random.Random(f"zero-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            cid, ordered_at, name, street, postcode, city = rng.choice(conn.execute(
                "SELECT o.customer_id, o.ordered_at, i.billing_name, i.billing_street,"
                " i.billing_postcode, i.billing_city FROM orders AS o"
                " JOIN invoices AS i ON i.order_id = o.id WHERE o.status = 'delivered'"
                " ORDER BY o.id").fetchall())
            order_id = conn.execute(
                "INSERT INTO orders (customer_id, ordered_at, status, total_cents,"
                " provenance_id) VALUES (?, ?, 'refunded', 0, 1)", (cid, ordered_at),
            ).lastrowid
            conn.execute(
                "INSERT INTO invoices (number, order_id, customer_id, issued_at, billing_name,"
                " billing_street, billing_postcode, billing_city, amount_cents, vat_cents,"
                " provenance_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 1)",
                (f"CN-{seed % 10000:04d}-000", order_id, cid, ordered_at[:10], name, street,
                 postcode, city))
    finally:
        conn.close()
    return order_id


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    seed = variant.seed or 0
    return {"planted": plant_refunds(str(cms.path), seed),
            "zero_total": plant_zero_total(str(cms.path), seed)}


def expect(attempt: Attempt) -> dict[str, Any]:
    """The rows the extract must hold, read by the grader, and the customers behind them."""
    rows = engine.read(
        attempt.cms,
        "SELECT o.id AS order_id, o.customer_id, o.status, o.total_cents, i.amount_cents,"
        " i.vat_cents, c.email FROM orders AS o JOIN invoices AS i ON i.order_id = o.id"
        " JOIN customers AS c ON c.id = o.customer_id WHERE o.total_cents < 0",
    )
    return {row["order_id"]: row for row in rows}


def _rows(attempt: Attempt) -> list[dict[str, Any]]:
    result = attempt.result
    if not all(isinstance(row, dict) for row in result):
        raise PrincipleViolation("task", "return a list of dicts, one per order")
    bad = [row.get("order_id") for row in result
           if "order_id" in row and (isinstance(row["order_id"], bool)
                                     or not isinstance(row["order_id"], int))]
    if bad:
        raise PrincipleViolation(
            "task", f"order_id must be the order's integer id, not {bad[0]!r}")
    return result


def only_needed_keys(attempt: Attempt) -> None:
    """Exactly the keys the developer needs: nothing personal beyond a pseudonym."""
    rows = _rows(attempt)
    extra = sorted({k for row in rows for k in row} - set(KEYS))
    if extra:
        raise PrincipleViolation(
            "minimisation",
            "your extract holds data the bug does not need (names, contact details and "
            "addresses never help to reproduce a VAT error)",
            [f"key {key!r}" for key in extra],
        )
    missing = sorted({k for k in KEYS if any(k not in row for row in rows)})
    if missing:
        raise PrincipleViolation(
            "task", f"every row needs the keys {', '.join(KEYS)}; missing: {', '.join(missing)}"
        )


def only_needed_rows(attempt: Attempt) -> None:
    """All orders with a negative total, and no other order."""
    rows = _rows(attempt)
    ids = [row.get("order_id") for row in rows]
    if len(ids) != len(set(ids)):
        raise PrincipleViolation("task", "each order may appear only once in the extract")
    check_rows(set(ids), set(attempt.expected), "your extract")


def values_match(attempt: Attempt) -> None:
    """The order and credit-note values are the sandbox's (the developer reproduces with them)."""
    wrong = []
    for row in _rows(attempt):
        truth = attempt.expected[row["order_id"]]
        for key in VALUE_KEYS:
            if row.get(key) != truth[key]:
                wrong.append(f"order {row['order_id']}: {key} is {row.get(key)!r}, "
                             f"the sandbox says {truth[key]!r}")
    if wrong:
        raise PrincipleViolation(
            "task", "the extract must show the values that trigger the bug", wrong)


def arguments(attempt: Attempt) -> tuple[()]:
    """No arguments; keeps the learner function's source for the pseudonym judge."""
    attempt.context["learner_source"] = learner_source(function_in_call(attempt))
    return ()


def customers_pseudonymised(attempt: Attempt) -> None:
    """The customer key is a pseudonym (grading.pseudonyms): not the id, not an unkeyed hash,
    not a keyed hash whose key is in the code; one per customer, different between them."""
    rows = []
    for row in _rows(attempt):
        truth = attempt.expected[row["order_id"]]
        rows.append((f"order {row['order_id']}", row.get("customer"), truth["customer_id"],
                     {"id": truth["customer_id"], "e-mail": truth["email"]}))
    problems, task = pseudonyms.judge(rows, source=attempt.context.get("learner_source"))
    if problems:
        raise PrincipleViolation(
            "pseudonymisation",
            "the developer can link the extract back to customers without a secret you keep",
            [p.line() for p in problems],
        )
    if task:
        raise PrincipleViolation(
            "task", f"{task[0]} (the bug may depend on customers with several refunds)")


def read_under_purpose(attempt: Attempt) -> None:
    """Every read stayed in the purpose (5(1)(b)), and the audit log shows the orders were
    read under it (accountability, 5(2))."""
    learner_stayed_in_purpose(attempt)
    entries = [e for e in attempt.learner_entries(actor="learner")
               if e.get("purpose") == PURPOSE and e.get("action") == "read"]
    read = {c for e in entries for c in (e.get("columns") or [])}
    if "orders.total_cents" not in read:
        raise PrincipleViolation(
            "accountability",
            f"the audit log shows no read of the orders under {PURPOSE!r}: read through "
            f"`with cms.processing({PURPOSE!r}) as p: p.query(...)`, so the shop can show "
            "who used which data and why",
        )


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="The minimal, pseudonymised extract that reproduces a bug",
    principles=("minimisation", "pseudonymisation", "purpose_limitation", "accountability"),
    task=(
        "extract_for_bug(cms) returns one dict per order with a negative total, with exactly "
        "the keys order_id, status, total_cents, amount_cents, vat_cents and customer (a keyed "
        "pseudonym), read under the purpose 'bug_fixing'."
    ),
    checks=(only_needed_keys, only_needed_rows, values_match, customers_pseudonymised,
            read_under_purpose),
    points=4,
    purpose=PURPOSE,
    returns=list,
    visible=Variant(scenario="webshop", seed=20140301, customers=300),
    hidden=Variant(scenario="ebooks", customers=300),
    prepare=prepare,
    expect=expect,
    arguments=arguments,
))
