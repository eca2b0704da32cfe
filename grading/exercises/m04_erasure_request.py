"""Exercise 04-erasure-request: carry out one erasure request by hand, and say what stays.

The setup picks a customer of the trampoline shop and makes sure their file has every kind
of data an erasure touches: invoices on both sides of the tax boundary (31 Dec of year Y-8,
due; 1 Jan and 31 Dec of Y-7, and those exactly 7 x 365 and 2557 days old, kept: seven years
from the end of the financial year, AWR art. 52(4)), a zero-total invoiced order, a
cancelled order, a recent order with an invoice (and a trampoline under warranty), a
newsletter consent and a newsletter they received (see ``_m04_boundaries``). The learner
writes ``erase_customer(cms, p, email) -> dict``: the harness hands over ``p``, a processing
context for the internal purpose ``dsr_erasure`` (learner code may not open internal
purposes itself); with it, not with ``cms.dsr.erase`` (the reference), it erases the person
and returns ``{invoice id: reason}`` for every invoice it had to keep.

Checked, in order: the context was used for this request only (no other customer's data
written or exported through it, art. 5(1)(b)); the e-mail address is gone (art. 17(1)); no
unkeyed hash of it is left (for the shop, which holds the addresses, a hash is
pseudonymised data and still personal: art. 4(5), recital 26); the customer row is gone
(a flag is not erasure); no row still carries the customer's id (linkability, WP29 Opinion
05/2014); the invoices under the tax duty are kept unchanged (art. 17(3)(b), AWR art. 52(4));
the expired invoice is gone (17(1)); nobody else was touched; the report lists exactly the
kept invoices with the exception that keeps them.

Two things stay on purpose. The audit log keeps its entries: they hold ids, not names, but
ids are pseudonymous personal data (art. 4(5)); the log is the shop's proof of what it did
(art. 5(2)) and rewriting it would break its hash chain, so it is kept, pseudonymous, and is
not searched here. The consent events go with the rest: the proof of a newsletter consent
(art. 7(1), the ``consent_proof`` rule) exists to answer a claim about the consent; once
the person has asked for erasure the shop sends nothing more, and art. 17(3)(e) (legal
claims) covers only a claim that is actually foreseeable, which a newsletter consent
without a complaint is not. So erasure overrides the consent_proof rule here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import random
import sqlite3
from collections.abc import Iterable
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation
from grading.exercises import _m04_boundaries as boundaries
from grading.harness import Attempt, Exercise, Variant, learner_stayed_in_purpose, register
from sandbox_cms.privacy import erasure

EXERCISE_ID = "04-erasure-request"
PURPOSE = "dsr_erasure"
LINKED_TABLES = ("orders", "invoices", "consent_events", "mailing_recipients", "disclosures",
                 "dsr_requests")
KEPT_INVOICE_COLUMNS = ("number", "issued_at", "billing_name", "billing_street",
                        "billing_postcode", "billing_city", "amount_cents", "vat_cents")
HASHES = (hashlib.md5, hashlib.sha1, hashlib.sha256, hashlib.sha512)
HASH_PREFIX = 16  # a hash cut to 16 hex digits is still the hash
EXCEPTION = "17(3)(b)"


# --- shared with 04-retention-job ------------------------------------------------------


def reference_actions(attempt: Attempt, actor: str, actions: Iterable[str],
                      what: str) -> None:
    """The learner did the work themselves: the reference mechanism (``actor``) did not act."""
    used = [e for e in attempt.learner_entries(actor=actor) if e.get("action") in set(actions)]
    if used:
        raise PrincipleViolation(
            "task", f"{what} is the reference the grader compares with; write the job "
            "yourself (the audit log shows it ran: entry "
            f"{used[0].get('seq')}, actor {actor!r})")


def handed_over_entries(attempt: Attempt) -> list[dict[str, Any]]:
    """Audit entries written through the processing context the harness handed over (its
    session; the sandbox's actions such as ``p.export`` log the learner's actor and the
    purpose without a session)."""
    entries = []
    for entry in attempt.learner_entries():
        detail = entry.get("detail")
        with contextlib.suppress(TypeError, ValueError):
            detail = json.loads(detail) if isinstance(detail, str) else detail
        session = detail.get("session") if isinstance(detail, dict) else None
        if (attempt.handover_session is not None and session == attempt.handover_session) \
                or (session is None and entry.get("actor") == "learner"
                    and entry.get("purpose") == attempt.exercise.handover):
            entries.append(entry)
    return entries


def check_context_used_for(attempt: Attempt, outside: set[int], what: str,
                           actions: frozenset[str] | None = None) -> None:
    """No write or export (or only ``actions``) through the handed-over context concerned a
    customer in ``outside`` (those the task is not about): the context serves ``what`` and
    nothing else (purpose limitation, art. 5(1)(b)). Reads are not judged here: finding the
    person, or what is due, may read more than it changes."""
    records = []
    for entry in handed_over_entries(attempt):
        ids = entry.get("row_ids")
        hit = sorted(set(ids) & outside) if isinstance(ids, list) else []
        columns = entry.get("columns") if isinstance(entry.get("columns"), list) else []
        action = entry.get("action")
        if not hit or action in ("read", "refused", "violation") \
                or (actions is not None and action not in actions):
            continue
        shown = ", ".join(map(str, hit[:5])) + (" ..." if len(hit) > 5 else "")
        records.append(f"audit entry {entry.get('seq')}: {entry.get('action')} of "
                       f"{', '.join(columns) or 'rows'} about customers {shown}")
    if records:
        raise PrincipleViolation(
            "purpose_limitation", f"the {attempt.exercise.handover!r} context the grader "
            f"handed over is for {what}; it changed or exported other customers' data too",
            records)


def rows_linked_to(attempt: Attempt, customer_ids: set[int]) -> list[str]:
    """Rows of other tables that still carry one of ``customer_ids`` (plain descriptions)."""
    found = []
    marks = ", ".join("?" * len(customer_ids))
    for table in LINKED_TABLES:
        key = "mailing_id" if table == "mailing_recipients" else "id"
        for row in attempt.query(
            f"SELECT {key} AS row_id, customer_id FROM {table}"  # noqa: S608 - fixed names
            f" WHERE customer_id IN ({marks}) ORDER BY customer_id, {key}",
            sorted(customer_ids),
        ):
            found.append(f"{table} row {row['row_id']} still carries customer id "
                         f"{row['customer_id']}")
    return found


def text_values(attempt: Attempt) -> Iterable[tuple[str, Any, str]]:
    """(table.column, rowid, value) for every text value in the sandbox but the audit log."""
    tables = [r["name"] for r in attempt.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'audit_log'")]
    for table in tables:
        columns = [r["name"] for r in attempt.query(f'PRAGMA table_info("{table}")')]
        for row in attempt.query(f'SELECT rowid AS _r, * FROM "{table}"'):  # noqa: S608
            for column in columns:
                value = row.get(column)
                if isinstance(value, str):
                    yield f"{table}.{column}", row["_r"], value


# --- setup ---------------------------------------------------------------------------


def plant_file(db_path: str, seed: int) -> dict[str, Any]:
    """Pick a customer with an invoice and give them the boundary invoices, a zero-total and
    a cancelled order, a recent order with invoice, a newsletter consent and a newsletter
    received; return who it is and what was planted."""
    rng = random.Random(f"erasure-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            now = boundaries.now_of(conn)
            candidates = [r[0] for r in conn.execute(
                "SELECT DISTINCT i.customer_id FROM invoices AS i"
                " JOIN customers AS c ON c.id = i.customer_id"
                " WHERE c.closed_at IS NULL ORDER BY i.customer_id")]
            cid = rng.choice(candidates)
            first, last, email, street, number, postcode, city = conn.execute(
                "SELECT first_name, last_name, email, street, house_number, postcode, city"
                " FROM customers WHERE id = ?", (cid,)).fetchone()
            planted = boundaries.plant_invoices(
                conn, cid, (f"{first} {last}", f"{street} {number}", postcode, city),
                prefix=f"ER-{seed % 10000:04d}")
            cancelled, _ = boundaries.add_order(
                conn, cid, (now - dt.timedelta(days=20)).isoformat(timespec="seconds"),
                boundaries.WARRANTY_SKU, status="cancelled")
            planted.append(boundaries.Boundary("order_cancelled", "orders", cancelled, False))
            ordered = now - dt.timedelta(days=rng.randrange(60, 300))
            product_id, price = conn.execute(
                "SELECT id, price_cents FROM products"  # the e-book shop has no warranty
                " ORDER BY warranty_months >= 24 DESC, id LIMIT 1").fetchone()
            order_id = conn.execute(
                "INSERT INTO orders (customer_id, ordered_at, status, total_cents,"
                " provenance_id) VALUES (?, ?, 'delivered', ?, 1)",
                (cid, ordered.isoformat(timespec="seconds"), price)).lastrowid
            conn.execute(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
                " VALUES (?, ?, 1, ?)", (order_id, product_id, price))
            conn.execute(
                "INSERT INTO invoices (number, order_id, customer_id, issued_at, billing_name,"
                " billing_street, billing_postcode, billing_city, amount_cents, vat_cents,"
                " provenance_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (f"ER-{seed % 10000:04d}-{order_id}", order_id, cid, ordered.date().isoformat(),
                 f"{first} {last}", f"{street} {number}", postcode, city, price,
                 round(price * 21 / 121)))
            if not conn.execute("SELECT 1 FROM consent_events WHERE customer_id = ? AND"
                                " purpose = 'newsletter'", (cid,)).fetchone():
                conn.execute(
                    "INSERT INTO consent_events (customer_id, purpose, event, at, text_version,"
                    " method, channel, provenance_id) VALUES (?, 'newsletter', 'granted', ?,"
                    " 'newsletter-v2', 'separate_checkbox', 'checkout', 1)",
                    (cid, ordered.isoformat(timespec="seconds")))
            mailing = conn.execute(
                "INSERT INTO mailings (purpose, subject, sent_at) VALUES ('newsletter',"
                " 'New trampolines for spring', ?)",
                ((now - dt.timedelta(days=30)).isoformat(timespec="seconds"),)).lastrowid
            conn.execute("INSERT INTO mailing_recipients (mailing_id, customer_id) VALUES (?, ?)",
                         (mailing, cid))
    finally:
        conn.close()
    return {"customer_id": cid, "email": email, "boundaries": boundaries.as_context(planted)}


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return plant_file(str(cms.path), variant.seed or 0)


def expect(attempt: Attempt) -> dict[str, Any]:
    """The customer's invoices split by the tax duty, the kept ones as issued, the others."""
    cms, cid = attempt.cms, attempt.context["customer_id"]
    duty = engine.invoices_under_duty(cms)
    invoices = engine.read(cms, "SELECT * FROM invoices WHERE customer_id = ?", (cid,))
    return {
        "kept": {r["id"]: r for r in invoices if r["id"] in duty},
        "expired": {r["id"] for r in invoices if r["id"] not in duty},
        "others": engine.existing_ids(cms, "customers") - {cid},
    }


def _arguments(attempt: Attempt) -> tuple[str]:
    attempt.context["erase_calls"] = erasure.ERASE_CALLS[0]
    return (attempt.context["email"],)


# --- checks --------------------------------------------------------------------------


def did_it_by_hand(attempt: Attempt) -> None:
    """cms.dsr.erase is the reference; the learner writes the erasure."""
    reference_actions(attempt, "dsr", ("erase",), "cms.dsr.erase")
    if erasure.ERASE_CALLS[0] != attempt.context.get("erase_calls", erasure.ERASE_CALLS[0]):
        raise PrincipleViolation(
            "task", "sandbox_cms.privacy.erasure.erase_customers is the routine behind "
            "cms.dsr.erase, "
            "the reference the grader compares with; in this exercise decide yourself what "
            "goes and what stays (exercise 2 may use it)")


def only_the_requester(attempt: Attempt) -> None:
    """The handed-over context changed or exported no other customer's data: it is for this
    request only (art. 5(1)(b))."""
    check_context_used_for(attempt, attempt.expected["others"],
                           "this request only: the person who asked")


def email_gone(attempt: Attempt) -> None:
    """The e-mail address is nowhere in the sandbox (art. 17(1))."""
    email = attempt.context["email"].strip().lower()
    found = [f"{where} (row {rowid})" for where, rowid, value in text_values(attempt)
             if _contains_address(value, email)]
    if found:
        raise PrincipleViolation(
            "erasure", f"the e-mail address {attempt.context['email']} is still in the "
            "sandbox: erasure means it is gone, not hidden or marked", found)


def _contains_address(value: str, email: str) -> bool:
    """Whether ``value`` holds ``email`` (a longer address that merely contains it does not)."""
    text = value.strip().lower()
    if text == email:
        return True
    return email in text and not (text.count("@") == 1 and " " not in text)


def no_hash_of_email(attempt: Attempt) -> None:
    """No unkeyed hash of the e-mail stands in for it (pseudonymisation is not erasure)."""
    email = attempt.context["email"].strip()
    digests = {make(v.encode()).hexdigest()[:HASH_PREFIX]
               for make in HASHES for v in {email, email.lower()}}
    found = [f"{where} (row {rowid}) holds a hash of the e-mail address"
             for where, rowid, value in text_values(attempt)
             if any(d in value.lower() for d in digests)]
    if found:
        raise PrincipleViolation(
            "anonymisation", "a hash of the e-mail address is pseudonymised data, still "
            "personal data: anyone with the address can hash it and find the customer "
            "(singling out, linkability)", found)


def customer_row_gone(attempt: Attempt) -> None:
    """The customer row is deleted, not flagged or blanked."""
    cid = attempt.context["customer_id"]
    rows = attempt.query("SELECT id, first_name, closed_at FROM customers WHERE id = ?", (cid,))
    if rows:
        row = rows[0]
        how = ("closed_at is set" if row["closed_at"] else f"first_name is {row['first_name']!r}")
        raise PrincipleViolation(
            "erasure", f"customer {cid} is still in the customers table ({how}); a flag or "
            "a blanked field hides the person from the shop's screens but keeps them in the "
            "database, the backups and any leak")


def nothing_links_back(attempt: Attempt) -> None:
    """No order, invoice, consent, receipt or request still carries the customer's id."""
    cid = attempt.context["customer_id"]
    found = rows_linked_to(attempt, {cid})
    if found:
        raise PrincipleViolation(
            "anonymisation", f"rows still carry customer id {cid}: the kept invoice names "
            "the person, so the id links their whole history back to them (WP29 Opinion "
            "05/2014: linkability)", found)


def invoices_kept_as_issued(attempt: Attempt) -> None:
    """Every invoice under the tax duty is still there, with what it said when issued."""
    kept = attempt.expected["kept"]
    now = {r["id"]: r for r in attempt.query(
        f"SELECT * FROM invoices WHERE id IN ({', '.join('?' * len(kept))})", sorted(kept))}
    problems = []
    for invoice_id, before in sorted(kept.items()):
        after = now.get(invoice_id)
        if after is None:
            problems.append(f"invoice {invoice_id} ({before['number']}, issued "
                            f"{before['issued_at'][:10]}) was deleted")
            continue
        changed = [c for c in KEPT_INVOICE_COLUMNS if after[c] != before[c]]
        if changed:
            problems.append(f"invoice {invoice_id} was changed ({', '.join(changed)}): the "
                            "administration must keep the invoice as it was issued")
    if problems:
        raise PrincipleViolation(
            "legal_retention", "the tax duty keeps these invoices, and erasure does not reach "
            "them (art. 17(3)(b)): seven years from the end of the financial year, so an "
            "invoice of year Y stays until 31 December of Y+7 (AWR art. 52(4); BW 2:10(3) or "
            "3:15i); count from the sandbox clock (cms.clock.now()), not from the invoice date "
            "in days or from your computer's clock", problems)


def expired_invoices_gone(attempt: Attempt) -> None:
    """Invoices past the seven years are no longer covered by the exception: they go."""
    expired = attempt.expected["expired"]
    left = attempt.query(
        f"SELECT id, issued_at FROM invoices WHERE id IN ({', '.join('?' * len(expired))})",
        sorted(expired))
    if left:
        raise PrincipleViolation(
            "erasure", "the exception of art. 17(3)(b) covers only what the law still "
            "requires; these invoices are past the seven-year tax period (an invoice of year "
            "Y is due from 1 January of Y+8)",
            [f"invoice {r['id']} issued {r['issued_at'][:10]} is still there" for r in left])


def others_untouched(attempt: Attempt) -> None:
    """Only the person who asked was erased."""
    missing = attempt.expected["others"] - engine.existing_ids(attempt.cms, "customers")
    if missing:
        raise PrincipleViolation(
            "task", f"{len(missing)} other customers disappeared (ids "
            f"{', '.join(map(str, sorted(missing)[:5]))}); erase only the person who asked")


def report_names_what_stays(attempt: Attempt) -> None:
    """The answer lists every kept invoice, and only those, with the exception that keeps it."""
    report = attempt.result
    bad = [k for k in report if isinstance(k, bool) or not isinstance(k, int)]
    if bad:
        raise PrincipleViolation(
            "task", f"the keys of your report must be invoice ids (integers), not {bad[0]!r}")
    kept = set(attempt.expected["kept"])
    if set(report) != kept:
        raise PrincipleViolation(
            "task", f"your report lists invoices {sorted(report)}, but the invoices kept "
            f"under the tax duty are {sorted(kept)}")
    vague = [f"invoice {k}: {str(v)[:60]!r}" for k, v in sorted(report.items())
             if not isinstance(v, str) or EXCEPTION not in "".join(v.split())]
    if vague:
        raise PrincipleViolation(
            "legal_retention", "tell the person why each invoice stays: name the exception "
            "of art. 17(3)(b) (a legal obligation: the seven-year tax duty)", vague)


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    # The title names no principle: recognising them is the exercise (review section 4,
    # P1); a failing grade still names principle and article.
    title="A customer's letter: \"Please delete all my data\"",
    principles=("erasure", "anonymisation", "legal_retention", "purpose_limitation"),
    names_principle=False,
    task=(
        "erase_customer(cms, p, email) erases the customer with that e-mail address with p, "
        "the 'dsr_erasure' context the grader hands over (for this request only): "
        "everything goes except the invoices under the tax duty (until 31 December of "
        "their year + 7, on the sandbox clock), which stay as issued but unlinked; it "
        "returns {invoice id: reason} for the invoices it kept."
    ),
    checks=(learner_stayed_in_purpose, did_it_by_hand, only_the_requester, email_gone,
            no_hash_of_email,
            customer_row_gone, nothing_links_back, invoices_kept_as_issued,
            expired_invoices_gone, others_untouched, report_names_what_stays),
    points=4,
    purpose=PURPOSE,
    handover=PURPOSE,
    returns=dict,
    # The clocks lie after the data (which ends on 31 Dec 2024) and years before any wall
    # clock that will grade this, so reading the wall clock always counts a later year.
    visible=Variant(scenario="webshop", seed=20140301, customers=300,
                    now=dt.datetime(2025, 9, 15, 9, 0)),
    hidden=Variant(scenario="webshop", customers=300,
                   now=dt.datetime(2025, 4, 1, 9, 0)),
    prepare=prepare,
    expect=expect,
    arguments=_arguments,
))
