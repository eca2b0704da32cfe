"""Exercise 05-access-copy: answer one access request completely, and only for the person.

The setup picks a customer of the trampoline shop and completes their file: orders and
invoices, a newsletter consent and a newsletter received, a disclosure to the anti-piracy
foundation and one to the mailing service (a processor), and an earlier request. It plants
the people an access request must not reach (art. 15(4)), the same in every variant:

- **same name**: another customer with the same first and last name, other address and
  e-mail, with an order, an invoice and a disclosure of their own;
- **household**: a customer at the same street, number, postcode and city, same last name,
  with an order and an invoice;
- **guest order**: an order placed at the checkout with the requester's e-mail address but
  another person's name (the household member's). The shop records it as a guest order and
  asks the account holder to confirm (``sandbox_cms.data.shop``); unconfirmed, it is not on
  the requester's record and its name and purchase are someone else's: not in the copy.

The learner writes ``answer_access_request(cms, p, email) -> dict`` with ``p``, the
``dsr_access`` context the grader hands over (not with ``cms.dsr.export``, the reference,
which the shop's "my data" page uses). The answer has the sections of that export (see
:data:`SECTIONS`), so the page and the notebook answer the same request the same way
(tests/test_module05.py compares them).

Checked, in order: the reference was not called; every section is there; the copy is
machine-readable (JSON, art. 15(3), 20(1)); nobody else's data is in it (15(4)); no audit-log
internals (hashes, other people's row ids); the personal data is complete: every column of
the account and every order, invoice, consent event, mailing, disclosure and request
(15(1), 15(3)) and every audit entry about them written before the request was answered
(when, by whom, for which purpose: the processing operations, 15(1)(a) and (c)); the
information of 15(1)-(2) is there: purposes, recipients (every processor
and every recipient it was disclosed to), retention periods, source; the context changed
nothing and exported nothing about anyone else (5(1)(b)).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from grading import engine
from grading.checks import PrincipleViolation
from grading.exercises import _m04_boundaries as boundaries
from grading.exercises.m04_erasure_request import (
    check_context_used_for,
    handed_over_entries,
    reference_actions,
)
from grading.harness import Attempt, Exercise, Variant, register

EXERCISE_ID = "05-access-copy"
PURPOSE = "dsr_access"
SECTIONS = ("customer", "source", "orders", "invoices", "consent_events", "mailings_received",
            "disclosures", "requests", "audit_trail", "purposes", "retention_rules",
            "storage_locations")
"""The sections of the answer, as in ``cms.dsr.export``."""
AUDIT_SQL = ("SELECT seq FROM audit_log WHERE EXISTS (SELECT 1 FROM json_each(CASE WHEN"
             " json_valid(audit_log.row_ids) THEN audit_log.row_ids ELSE '[]' END)"
             " WHERE value = ?)")
ROW_SECTIONS = {"orders": "orders", "invoices": "invoices", "consent_events": "consent_events",
                "disclosures": "disclosures", "requests": "dsr_requests"}
CUSTOMER_COLUMNS = ("id", "first_name", "last_name", "email", "phone", "street",
                    "house_number", "postcode", "city", "country", "birth_date", "iban",
                    "company", "created_at", "closed_at")
AUDIT_INTERNALS = ("hash", "prev_hash", "row_ids", "detail")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --- setup ---------------------------------------------------------------------------


def _customer(conn: sqlite3.Connection, cid: int) -> dict[str, Any]:
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM customers WHERE id = ?", (cid,)).fetchone())
    finally:
        conn.row_factory = None


def _add_customer(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
    columns = [c for c in CUSTOMER_COLUMNS if c != "id"] + ["provenance_id"]
    values = [row.get(c) for c in columns[:-1]] + [1]
    return conn.execute(
        f"INSERT INTO customers ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        values).lastrowid


def _order_with_invoice(conn: sqlite3.Connection, cid: int, who: dict[str, Any], day: str,
                        prefix: str) -> tuple[int, int | None]:
    return boundaries.add_order(
        conn, cid, f"{day}T11:00:00", boundaries.GIFT_SKU, invoice=day, number=prefix,
        billing=(f"{who['first_name']} {who['last_name']}",
                 f"{who['street']} {who['house_number']}", who["postcode"], who["city"]))


def _disclose(conn: sqlite3.Connection, cid: int, recipient: str, purpose: str,
              columns: list[str], at: str) -> int:
    return conn.execute(
        "INSERT INTO disclosures (customer_id, recipient, purpose, columns, at)"
        " VALUES (?, ?, ?, ?, ?)", (cid, recipient, purpose, json.dumps(columns), at)).lastrowid


def plant_people(db_path: str, seed: int) -> dict[str, Any]:
    """Pick the requester, complete their file and plant the same-name customer and the
    household member; return who is who."""
    rng = random.Random(f"access-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            now = boundaries.now_of(conn)
            candidates = [r[0] for r in conn.execute(
                "SELECT DISTINCT i.customer_id FROM invoices AS i JOIN customers AS c"
                " ON c.id = i.customer_id WHERE c.closed_at IS NULL ORDER BY i.customer_id")]
            cid = rng.choice(candidates)
            me = _customer(conn, cid)
            others = [r[0] for r in conn.execute(  # other names, another street
                "SELECT id FROM customers WHERE id != ? AND first_name != ? AND last_name != ?"
                " AND COALESCE(street, '') != COALESCE(?, '') ORDER BY id",
                (cid, me["first_name"], me["last_name"], me["street"]))]
            elsewhere = _customer(conn, rng.choice(others))
            partner_name = _customer(conn, rng.choice(others))["first_name"]
            tag = f"{seed % 100000:05d}"
            namesake = {**elsewhere, "first_name": me["first_name"],
                        "last_name": me["last_name"],
                        "email": f"namesake-{tag}-{cid}@example.net"}
            same_name = _add_customer(conn, namesake)
            housemate = {**me, "first_name": partner_name, "phone": None, "iban": None,
                         "birth_date": None, "company": None,
                         "email": f"housemate-{tag}-{cid}@example.org",
                         "created_at": (now.replace(microsecond=0)).isoformat()}
            household = _add_customer(conn, housemate)
            day = now.date()
            year_ago = day.replace(year=day.year - 1).isoformat()
            _order_with_invoice(conn, same_name, namesake, year_ago, f"AC{tag}N")
            _order_with_invoice(conn, household, housemate, year_ago, f"AC{tag}H")
            mine, _ = _order_with_invoice(conn, cid, me, year_ago, f"AC{tag}M")
            stamp = now.replace(microsecond=0)
            _disclose(conn, same_name, "antipiracy-foundation", "antipiracy_sharing",
                      ["customers.first_name", "customers.last_name", "customers.email",
                       "orders.id"], (stamp.replace(year=stamp.year - 1)).isoformat())
            _disclose(conn, cid, "antipiracy-foundation", "antipiracy_sharing",
                      ["customers.first_name", "customers.last_name", "customers.email",
                       "orders.id"], (stamp.replace(year=stamp.year - 1)).isoformat())
            _disclose(conn, cid, "mail-service", "newsletter",
                      ["customers.first_name", "customers.email"],
                      (stamp.replace(day=1)).isoformat())
            if not conn.execute("SELECT 1 FROM consent_events WHERE customer_id = ? AND"
                                " purpose = 'newsletter'", (cid,)).fetchone():
                conn.execute(
                    "INSERT INTO consent_events (customer_id, purpose, event, at, text_version,"
                    " method, channel, provenance_id) VALUES (?, 'newsletter', 'granted', ?,"
                    " 'newsletter-v2', 'separate_checkbox', 'checkout', 1)",
                    (cid, f"{year_ago}T11:00:00"))
            mailing = conn.execute(
                "INSERT INTO mailings (purpose, subject, sent_at) VALUES ('newsletter',"
                " 'Trampolines for the summer', ?)", (stamp.replace(day=1).isoformat(),)
            ).lastrowid
            conn.execute("INSERT INTO mailing_recipients (mailing_id, customer_id) VALUES (?, ?)",
                         (mailing, cid))
            conn.execute(
                "INSERT INTO dsr_requests (kind, customer_id, token, status, requested_at,"
                " confirmed_at, completed_at) VALUES ('export', ?, 'earlier', 'completed', ?, ?,"
                " ?)", (cid, f"{year_ago}T10:00:00", f"{year_ago}T10:00:00",
                        f"{year_ago}T12:00:00"))
    finally:
        conn.close()
    return {"customer_id": cid, "email": me["email"], "same_name": same_name,
            "household": household, "my_order": mine,
            "partner": {"first_name": partner_name, "last_name": me["last_name"],
                        "street": me["street"], "house_number": me["house_number"],
                        "postcode": me["postcode"], "city": me["city"]}}


def place_guest_order(cms: Any, context: dict[str, Any]) -> int:
    """The household member orders at the checkout with the requester's e-mail address: a
    guest order the account holder is asked to confirm (not on their record until then)."""
    from sandbox_cms.data.shop import place_order, products

    sku = products(cms)[0].sku
    receipt = place_order(cms, {**context["partner"], "email": context["email"]}, sku, 1, ())
    if receipt.customer_id is not None:  # pragma: no cover - the shop's rule changed
        raise RuntimeError("the checkout put an order typed with a known address on the account")
    return receipt.order_id


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    context = plant_people(str(cms.path), variant.seed or 0)
    context["guest_order"] = place_guest_order(cms, context)
    return context


def expect(attempt: Attempt) -> dict[str, Any]:
    """What the copy must hold (ids per section, the account row, the register) and the values
    that belong to other people."""
    cms, cid = attempt.cms, attempt.context["customer_id"]
    rows = {section: {r["id"] for r in engine.read(
        cms, f"SELECT id FROM {table} WHERE customer_id = ?", (cid,))}  # noqa: S608
        for section, table in ROW_SECTIONS.items()}
    rows["mailings_received"] = {r["mailing_id"] for r in engine.read(
        cms, "SELECT mailing_id FROM mailing_recipients WHERE customer_id = ?", (cid,))}
    customer = engine.read(cms, "SELECT * FROM customers WHERE id = ?", (cid,))[0]
    guest = attempt.context["guest_order"]
    foreign: dict[str, str] = {}
    for r in engine.read(cms, "SELECT id, email FROM customers WHERE id != ?", (cid,)):
        foreign[r["email"].strip().lower()] = f"customer {r['id']}'s e-mail address"
    for r in engine.read(cms, "SELECT billing_name FROM invoices WHERE order_id = ?", (guest,)):
        foreign[r["billing_name"].strip().lower()] = (
            f"the name on guest order {guest}, typed by someone else with this address")
    partner = attempt.context["partner"]
    foreign[f"{partner['first_name']} {partner['last_name']}".lower()] = (
        f"the name of customer {attempt.context['household']}, who lives at the same address")
    return {
        "rows": rows,
        "customer": customer,
        "owners": {section: {r["id"]: r["customer_id"] for r in engine.read(
            cms, f"SELECT id, customer_id FROM {table}")}  # noqa: S608
            for section, table in ROW_SECTIONS.items()},
        "foreign": foreign,
        "purposes": {r["name"] for r in engine.read(cms, "SELECT name FROM purposes")},
        "rules": {r["name"] for r in engine.read(cms, "SELECT name FROM retention_rules")},
        "recipients": {r["name"] for r in engine.read(
            cms, "SELECT name FROM storage_locations WHERE kind IN ('processor', 'recipient')")},
        "hashes": {r["hash"] for r in engine.read(cms, "SELECT hash FROM audit_log")},
    }


def _arguments(attempt: Attempt) -> tuple[str]:
    attempt.context["audit_before"] = {r["seq"] for r in engine.read(
        attempt.cms, AUDIT_SQL, (attempt.context["customer_id"],))}
    return (attempt.context["email"],)


# --- helpers -------------------------------------------------------------------------


def _walk(value: Any, where: str = "answer") -> Iterator[tuple[str, Any]]:
    """(where, value) for every leaf of a nested answer, and every dict itself."""
    if isinstance(value, dict):
        yield where, value
        for key, item in value.items():
            yield from _walk(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{where}[{i}]")
    else:
        yield where, value


def _ids(items: Any, key: str = "id") -> set[Any]:
    if not isinstance(items, (list, tuple)):
        return set()
    return {item.get(key) for item in items if isinstance(item, dict)}


def _names(items: Any) -> set[str]:
    return {str(n) for n in _ids(items, "name") if n is not None}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- checks --------------------------------------------------------------------------


def did_it_yourself(attempt: Attempt) -> None:
    """cms.dsr.export is the reference (the "my data" page uses it); the learner writes it."""
    reference_actions(attempt, "dsr", ("export",), "cms.dsr.export")


def every_section(attempt: Attempt) -> None:
    """The answer has the sections of the shop's export, each of the right kind."""
    answer = attempt.result
    missing = [s for s in SECTIONS if s not in answer]
    if missing:
        raise PrincipleViolation(
            "task", f"your answer lacks {_plural(len(missing), 'section')}: "
            f"{', '.join(missing)} (the sections of the shop's export)")
    if not isinstance(answer["customer"], dict):
        raise PrincipleViolation(
            "task", "answer['customer'] should be one dict (the requester's account), not "
            f"{type(answer['customer']).__name__}")
    wrong = [s for s in SECTIONS if s not in ("customer", "source")
             and not isinstance(answer[s], (list, tuple))]
    if wrong:
        raise PrincipleViolation("task", f"these sections should be lists of rows (dicts): "
                                 f"{', '.join(wrong)}")


def machine_readable(attempt: Attempt) -> None:
    """The copy is in a commonly used electronic form: it converts to JSON as it is."""
    try:
        json.dumps(attempt.result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PrincipleViolation(
            "access", "the person asked electronically, so the copy goes in a commonly used "
            "electronic form (15(3)); a structured, machine-readable one (JSON) also serves "
            f"portability (20(1)); your answer does not convert to JSON ({exc})",
            article="art. 15(3) and 20(1) GDPR") from None


def nobody_else(attempt: Attempt) -> None:
    """No row or value of another person: found by the account, not by name or address."""
    answer, expected, cid = attempt.result, attempt.expected, attempt.context["customer_id"]
    records = []
    if answer["customer"].get("id") not in (None, cid):
        records.append(f"customer {answer['customer'].get('id')}'s account is in the copy")
    guest = attempt.context["guest_order"]
    for section, owners in expected["owners"].items():
        for row_id in sorted(_ids(answer.get(section)) - expected["rows"][section],
                             key=str):
            if section == "orders" and row_id == guest:
                records.append(f"order {row_id} is a guest order someone placed with this "
                               "address under another name, not confirmed by the account "
                               "holder: it is not on their record")
            elif row_id in owners:
                owner = owners[row_id]
                whose = "nobody's account" if owner is None else f"customer {owner}"
                records.append(f"{section} row {row_id} belongs to {whose}")
    for where, value in _walk(answer):
        if isinstance(value, str) and value.strip().lower() in expected["foreign"]:
            records.append(f"{where} holds {expected['foreign'][value.strip().lower()]}")
    if records:
        raise PrincipleViolation(
            "others_rights", "the copy holds another person's data: find the requester by "
            "their account (the e-mail address they wrote from), never by name or address, "
            "and leave out what someone else typed", records)


def no_audit_internals(attempt: Attempt) -> None:
    """Who processed the data, when and why may be told; the log's hashes, details and the
    row ids of everyone an entry touched may not."""
    records = []
    for where, value in _walk(attempt.result):
        if isinstance(value, dict):
            leaked = [k for k in AUDIT_INTERNALS if k in value and "seq" in value]
            if leaked:
                records.append(f"{where} carries {', '.join(leaked)}")
        elif isinstance(value, str) and _HEX64.match(value) and value in attempt.expected[
                "hashes"]:
            records.append(f"{where} holds a hash of the audit chain")
    if records:
        raise PrincipleViolation(
            "others_rights", "the audit log's internals are not the requester's data: an "
            "entry's row ids name other customers and its hashes and details are the shop's "
            "security; tell when, by whom and for which purpose, not those", records)


def complete_copy(attempt: Attempt) -> None:
    """Every column of the account and every row about the person (15(1), 15(3))."""
    answer, expected = attempt.result, attempt.expected
    records = []
    customer = answer["customer"]
    absent = [c for c in CUSTOMER_COLUMNS if c not in customer]
    differ = [c for c in CUSTOMER_COLUMNS if c in customer and customer[c] !=
              expected["customer"][c]]
    if absent:
        records.append(f"the account lacks {', '.join(absent)}")
    if differ:
        records.append(f"the account's {', '.join(differ)} differ from what the shop holds")
    for section, ids in expected["rows"].items():
        missing = ids - _ids(answer.get(section))
        if missing:
            shown = ", ".join(map(str, sorted(missing)[:5]))
            records.append(f"{section}: {_plural(len(missing), 'row')} missing (ids {shown})")
    missing = attempt.context["audit_before"] - _ids(answer.get("audit_trail"), "seq")
    if missing:
        shown = ", ".join(map(str, sorted(missing)[:5]))
        records.append(f"audit_trail: {len(missing)} of the entries about the person "
                       f"missing (seq {shown}): when, by whom and for what it was processed")
    if records:
        raise PrincipleViolation(
            "access", "the copy must hold all personal data the shop has about the person, "
            "from every table, not the account alone", records, article="art. 15(1) and 15(3) "
            "GDPR")


def the_information(attempt: Attempt) -> None:
    """Purposes (15(1)(a)), recipients incl. processors and the foundation (15(1)(c)),
    retention periods (15(1)(d)) and source (15(1)(g))."""
    answer, expected = attempt.result, attempt.expected
    records = []
    missing = expected["purposes"] - _names(answer["purposes"])
    if missing:
        records.append(f"purposes: {', '.join(sorted(missing))} missing (15(1)(a))")
    told = _names(answer["storage_locations"]) | {
        str(d.get("recipient")) for d in answer["disclosures"] if isinstance(d, dict)}
    missing = expected["recipients"] - told
    if missing:
        records.append(f"recipients: {', '.join(sorted(missing))} missing (15(1)(c): the "
                       "processors and the third parties the data went to)")
    missing = expected["rules"] - _names(answer["retention_rules"])
    if missing:
        records.append(f"retention periods: {', '.join(sorted(missing))} missing (15(1)(d))")
    if not answer["source"]:
        records.append("source: empty (15(1)(g): where the data came from)")
    if records:
        raise PrincipleViolation(
            "access", "the copy must come with the information of art. 15(1): why, to whom, "
            "how long and from where (the task takes it from the register, whole)", records,
            article="art. 15(1) GDPR")


def changed_nothing(attempt: Attempt) -> None:
    """An access request reads; it changes nothing and exports nobody else (5(1)(b))."""
    check_context_used_for(
        attempt, engine.existing_ids(attempt.cms, "customers") - {attempt.context["customer_id"]},
        "this request only: the person who asked")
    writes = [e for e in handed_over_entries(attempt) if e.get("action") not in ("read",)
              and e.get("action") != "export"]
    if writes:
        raise PrincipleViolation(
            "purpose_limitation", "the 'dsr_access' context is for reading the person's data "
            "to give them a copy; it changed the sandbox",
            [f"audit entry {e.get('seq')}: {e.get('action')} of {e.get('table_name')}"
             for e in writes])


def sections_of(answer: dict[str, Any], names: Iterable[str] = SECTIONS) -> dict[str, Any]:
    """The named sections of an answer (or of ``cms.dsr.export``), for comparing the two."""
    return {name: answer.get(name) for name in names}


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Answer an access request completely, and only for the person who asked",
    principles=("access", "others_rights", "purpose_limitation"),
    task=(
        "answer_access_request(cms, p, email) returns the copy for the customer with that "
        "e-mail address, read with p (the 'dsr_access' context the grader hands over): the "
        "sections of the shop's export (customer, source, orders, invoices, consent_events, "
        "mailings_received, disclosures, requests, audit_trail, purposes, retention_rules, "
        "storage_locations), nobody else's data, no audit-log internals."
    ),
    checks=(did_it_yourself, every_section, machine_readable, nobody_else, no_audit_internals,
            complete_copy, the_information, changed_nothing),
    points=4,
    purpose=PURPOSE,
    handover=PURPOSE,
    returns=dict,
    visible=Variant(scenario="webshop", seed=20150315, customers=300,
                    now=dt.datetime(2025, 6, 16, 10, 0)),
    hidden=Variant(scenario="webshop", customers=300,
                   now=dt.datetime(2025, 10, 13, 10, 0)),
    prepare=prepare,
    expect=expect,
    arguments=_arguments,
))
