"""Module 06 (a personal-data breach): what the three exercises plant and share.

:func:`plant_breach` makes the sandbox of the story: the clock on a Monday morning, a copy of
some columns of the customer table left on a test server (a CSV file beside the sandbox
database), the incidents the privacy desk was told about (table ``incidents``) and an empty
breach register (table ``breach_register``, art. 33(5) GDPR). The boundaries are planted in
every variant, whatever the seed:

- in the leaked copy: customers who moved since the copy was made (their row in the sandbox
  has a new address), a customer erased since (in the copy, gone from the sandbox), two
  fictitious canary rows on the shop's canary domain (they are nobody), one person twice (the
  second time with the e-mail address in capitals), current customers who share the name of
  a person in the copy (one of them the name of the erased customer), and the IBAN column;
- in the incidents: a readable copy with bank accounts (high risk), a readable list of first
  names and e-mail addresses (a risk, not a high one), an encrypted backup whose key is safe
  (unlikely to result in a risk), and an encrypted backup whose key was on the same disk,
  reported five days ago (high risk, its 72 hours already over). Each was reported at a
  moment that puts a weekend inside its 72 hours; each also has the moment the copy was made
  and the moment the investigation closed, neither of which starts the 72 hours.

The shop's risk method is data: ``datasets/exercises/breach_risk.toml``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grading.exercises import _m04_boundaries as boundaries
from grading.exercises.canary import make_canaries
from sandbox_cms.core.charts import COLOURS, Span, timeline
from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.privacy import breaches

PURPOSE = "breach_investigation"
LEAK_FILE = "test-server-copy.csv"
CANARY_DOMAIN = "kanarie.example"
"""The shop's own canary rows (fictitious customers added to every copy) use this domain."""
RISK_FILE = DATASETS / "exercises" / "breach_risk.toml"
BASE_COLUMNS = ("first_name", "last_name", "email", "street", "house_number", "postcode", "city")
EXTRA_COLUMNS = (("birth_date",), ("phone",), ("birth_date", "phone"), ("company", "birth_date"),
                 ("phone", "company"))

TABLES = breaches.TABLES
"""The desk's incident reports and the breach register (33(5)): the sandbox's own
(``cms.breaches``, :mod:`sandbox_cms.privacy.breaches`); no personal data in either."""


def risk_method() -> dict[str, Any]:
    return read_toml(RISK_FILE, ValueError, "breach risk method")


def categories_of(columns: list[str], register: Any) -> list[str]:
    """The categories (datasets/policy/categories.toml) of ``'table.column'`` names."""
    return sorted({register.category_of(c) for c in columns} - {None})


def decide(incident: dict[str, Any], register: Any) -> dict[str, Any]:
    """The shop's decision for one incident (the three steps of ``breach_risk.toml``):
    ``risk`` ('unlikely', 'risk', 'high'), ``authority``, ``people``, ``deadline`` (awareness
    plus 72 hours, or None when the authority need not be told)."""
    method = risk_method()
    categories = set(categories_of(json.loads(incident["columns"]), register))
    safe = bool(incident["encrypted"]) and not bool(incident["key_compromised"])
    if safe:
        risk = "unlikely"
    elif categories & set(method["high_risk"]) and categories & set(method["identifying"]):
        risk = "high"
    else:
        risk = "risk"
    deadline = None
    if risk != "unlikely":
        deadline = (dt.datetime.fromisoformat(incident["reported_at"])
                    + dt.timedelta(hours=method["notify_within_hours"]))
    return {"risk": risk, "authority": risk != "unlikely", "people": risk == "high",
            "deadline": deadline}


def _monday_morning(now: dt.datetime) -> dt.datetime:
    """``now`` if it is a Monday at 09:00, else the next Monday at 09:00."""
    day = now.date() + dt.timedelta(days=(7 - now.weekday()) % 7)
    monday = dt.datetime.combine(day, dt.time(9, 0))
    return monday if monday >= now else monday + dt.timedelta(days=7)


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def plant_breach(cms: Any, seed: int) -> dict[str, Any]:
    """Plant the leaked copy, the incidents and the empty register in ``cms`` (moving its
    clock forward to a Monday 09:00 first); return what the checks need."""
    now = cms.clock.now()
    monday = _monday_morning(now)
    if monday != now:
        cms.clock.set(monday)
    cms.flush()
    rng = random.Random(f"breach-{seed}")
    path = Path(cms.path)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            now = boundaries.now_of(conn)
            leak = _plant_leak(conn, rng, now, path.parent / LEAK_FILE)
    finally:
        conn.close()
    cms.breaches.install()
    incidents = {}
    for case, values in _incidents(rng, now, leak):
        incidents[case] = cms.breaches.report_incident(**values)
    cms.flush()
    return {**leak, "incidents": incidents, "now": _stamp(now)}


def _plant_leak(conn: sqlite3.Connection, rng: random.Random, now: dt.datetime,
                file: Path) -> dict[str, Any]:
    extra = rng.choice(EXTRA_COLUMNS)
    columns = [*BASE_COLUMNS[:3], *extra, *BASE_COLUMNS[3:], "iban"]
    invoiced = {r[0] for r in conn.execute("SELECT DISTINCT customer_id FROM invoices"
                                           " WHERE customer_id IS NOT NULL")}
    active = [dict(r) for r in conn.execute(
        "SELECT * FROM customers WHERE closed_at IS NULL ORDER BY id")]
    with_iban = [c for c in active if c["iban"]]
    people = rng.sample(with_iban, 4)
    rest = [c for c in active if c not in people]
    uninvoiced = [c for c in rest if c["id"] not in invoiced]
    erased = rng.choice(uninvoiced or rest)  # some productions have nobody without invoices
    people += rng.sample([c for c in rest if c is not erased], rng.randint(10, 16))
    people.append(erased)
    stay = [c for c in people if c is not erased]
    moved = rng.sample(stay, 2)
    duplicate = rng.choice([c for c in stay if c not in moved])
    strangers = [c for c in active if c not in people]
    namesakes = rng.sample(strangers, 2)
    canaries = make_canaries(rng.randrange(10**6), [0, 0])

    rows = [{k: c[k] for k in columns} for c in people]
    rows.append({**{k: duplicate[k] for k in columns}, "email": duplicate["email"].upper()})
    for canary in canaries:
        fake = {k: "" for k in columns}
        fake.update(first_name=canary.first_name, last_name=canary.last_name,
                    email=canary.email.rsplit("@", 1)[0] + "@" + CANARY_DOMAIN,
                    street=canary.street.rsplit(" ", 1)[0],
                    house_number=canary.street.rsplit(" ", 1)[1], postcode="9999 ZZ",
                    city="Kanariedorp", iban=canary.iban)
        if "phone" in fake:
            fake["phone"] = canary.phone
        if "birth_date" in fake:
            fake["birth_date"] = "1970-01-01"
        rows.append(fake)
    rng.shuffle(rows)
    with file.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})

    copy_made = now - dt.timedelta(days=rng.randint(40, 70), hours=rng.randint(0, 8))
    # after the copy: two customers move, one is erased, two others get a leaked name
    for person in moved:
        other = rng.choice([c for c in active if c["city"] != person["city"]])
        conn.execute("UPDATE customers SET street = ?, house_number = ?, postcode = ?, city = ?"
                     " WHERE id = ?", (other["street"], str(rng.randint(2, 180)),
                                       other["postcode"], other["city"], person["id"]))
    for stranger, named in zip(namesakes, (erased, duplicate), strict=True):
        conn.execute("UPDATE customers SET first_name = ?, last_name = ? WHERE id = ?",
                     (named["first_name"], named["last_name"], stranger["id"]))
    _erase(conn, erased["id"], copy_made + dt.timedelta(days=rng.randint(5, 20)))
    matched = sorted(c["id"] for c in stay)
    return {
        "leak_file": LEAK_FILE,
        "columns": columns,
        "customers": matched,
        "people": len(people),
        "categories": None,  # filled in by the exercise (needs the register)
        "moved": sorted(c["id"] for c in moved),
        "erased_email": erased["email"],
        "duplicate": duplicate["id"],
        "namesakes": sorted(c["id"] for c in namesakes),
        "canary_emails": sorted(r["email"] for r in rows if r["email"].endswith(CANARY_DOMAIN)),
        "rows": len(rows),
        "copy_made_at": _stamp(copy_made),
    }


def _erase(conn: sqlite3.Connection, customer_id: int, at: dt.datetime) -> None:
    """Erase a customer the way the desk does (sandbox_cms.privacy.erasure): invoices kept for
    the tax duty, unlinked from the customer, with the orders behind them (17(3)(b));
    everything else gone; a completed erasure request without a customer id."""
    kept_orders = {r[0] for r in conn.execute(
        "SELECT order_id FROM invoices WHERE customer_id = ? AND order_id IS NOT NULL",
        (customer_id,))}
    conn.execute("UPDATE invoices SET customer_id = NULL WHERE customer_id = ?", (customer_id,))
    orders = [r[0] for r in conn.execute("SELECT id FROM orders WHERE customer_id = ?",
                                         (customer_id,))]
    for order in orders:
        if order in kept_orders:
            conn.execute("UPDATE orders SET customer_id = NULL WHERE id = ?", (order,))
        else:
            conn.execute("DELETE FROM order_items WHERE order_id = ?", (order,))
    for table in ("orders", "consent_events", "mailing_recipients", "disclosures"):
        conn.execute(f"DELETE FROM {table} WHERE customer_id = ?", (customer_id,))  # noqa: S608
    requests = [r[0] for r in conn.execute("SELECT id FROM dsr_requests WHERE customer_id = ?",
                                           (customer_id,))]
    for request in requests:
        conn.execute("DELETE FROM dsr_outbox WHERE request_id = ?", (request,))
    conn.execute("DELETE FROM dsr_requests WHERE customer_id = ?", (customer_id,))
    conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
    conn.execute("INSERT INTO dsr_requests (kind, customer_id, token, status, requested_at,"
                 " confirmed_at, completed_at) VALUES ('erase', NULL, 'done', 'completed', ?, ?,"
                 " ?)", (_stamp(at), _stamp(at), _stamp(at + dt.timedelta(days=3))))


def _incidents(rng: random.Random, now: dt.datetime,
               leak: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Four incidents (ids from a seed-drawn base, in a seed-drawn order): (case, the
    arguments of ``cms.breaches.report_incident``)."""
    def at(days_back: int, first_hour: int, last_hour: int) -> dt.datetime:
        day = dt.datetime.combine(now.date() - dt.timedelta(days=days_back), dt.time(first_hour))
        return day + dt.timedelta(minutes=rng.randrange((last_hour - first_hour) * 60))

    friday, saturday, sunday, wednesday = at(3, 11, 17), at(2, 10, 18), at(1, 12, 16), at(5, 10, 17)
    readable = [f"customers.{c}" for c in leak["columns"]]
    everything = [f"customers.{c}" for c in ("first_name", "last_name", "email", "phone", "street",
                                             "house_number", "postcode", "city", "birth_date",
                                             "iban")]
    cases = {
        "test_server": dict(
            title="Copy of the customer table on a readable test server",
            description=f"A developer copied columns of the customer table to a test server "
            f"to reproduce a fault; the server's folder was readable from the internet. The "
            f"copy is the file {LEAK_FILE}.",
            copy_made_at=leak["copy_made_at"], reported_at=friday,
            reported_by="a security researcher, by e-mail to the privacy desk",
            investigation_closed_at=now - dt.timedelta(hours=rng.randint(1, 12)),
            columns=readable, people=leak["people"], encrypted=0, key_compromised=0,
            file=LEAK_FILE),
        "mailing_list": dict(
            title="Newsletter list readable at a shared link",
            description="An export of the newsletter list (first names and e-mail addresses) "
            "was shared by a link that anyone with the link could open, for one day.",
            copy_made_at=saturday - dt.timedelta(days=1, hours=3), reported_at=saturday,
            reported_by="the marketing team", investigation_closed_at=saturday
            + dt.timedelta(hours=rng.randint(20, 36)),
            columns=["customers.first_name", "customers.email"],
            people=rng.randint(80, 140), encrypted=0, key_compromised=0, file=None),
        "encrypted_backup": dict(
            title="Lost USB disk with an encrypted backup",
            description="An employee lost a USB disk with a backup of the customer table, "
            "encrypted with AES-256; the key is kept in the shop's key vault and was not on "
            "the disk or anywhere near it.",
            copy_made_at=sunday - dt.timedelta(days=6), reported_at=sunday,
            reported_by="the employee, by phone", investigation_closed_at=sunday
            + dt.timedelta(hours=rng.randint(2, 10)),
            columns=everything, people=rng.randint(250, 300), encrypted=1, key_compromised=0,
            file=None),
        "key_on_disk": dict(
            title="Stolen laptop with an encrypted backup and its key",
            description="A laptop was stolen from a car; it held an encrypted backup of the "
            "customer table, and the key in a text file on the same laptop.",
            copy_made_at=wednesday - dt.timedelta(days=14), reported_at=wednesday,
            reported_by="the employee, by e-mail", investigation_closed_at=wednesday
            + dt.timedelta(days=2, hours=rng.randint(0, 6)),
            columns=[c for c in everything if c != "customers.iban"],
            people=rng.randint(250, 300), encrypted=1, key_compromised=1, file=None),
    }
    names = list(cases)
    rng.shuffle(names)
    next_id = rng.randrange(100, 900)
    planned = []
    for case in names:
        planned.append((case, {**cases[case], "incident_id": next_id}))
        next_id += rng.randint(1, 7)
    return planned


def incidents(attempt: Any) -> list[dict[str, Any]]:
    """Every incident row, as the grader reads it."""
    return attempt.query("SELECT * FROM incidents ORDER BY id")


@dataclass(frozen=True)
class Picture:
    """An SVG chart; Jupyter shows it inline."""

    svg: str

    def __str__(self) -> str:
        return self.svg

    def _repr_svg_(self) -> str:
        return self.svg


TIMELINE_STATES = {"unnoticed": COLOURS["grey"], "investigating": COLOURS["orange"]}


def incident_timeline(cms: Any) -> Picture:
    """Each incident of the learner's sandbox: how long its copy lay unnoticed (from when it
    was made until the report reached the desk) and how long the investigation took; read
    under the ``breach_investigation`` purpose, so the audit log shows it."""
    with cms.processing(PURPOSE) as p:
        rows = p.query("SELECT id, title, copy_made_at, reported_at, investigation_closed_at"
                       " FROM incidents ORDER BY reported_at")
    spans = []
    for r in rows:
        made, told = (dt.datetime.fromisoformat(r[k]) for k in ("copy_made_at", "reported_at"))
        closed = dt.datetime.fromisoformat(r["investigation_closed_at"] or r["reported_at"])
        spans.append(Span(f"incident {r['id']}: unnoticed", made, told, "unnoticed",
                          f"{r['title']}; copy made {made:%a %d %b %H:%M}, reported "
                          f"{told:%a %d %b %H:%M}"))
        spans.append(Span(f"incident {r['id']}: investigated", told, closed, "investigating",
                          f"{r['title']}; reported {told:%a %d %b %H:%M}, closed "
                          f"{closed:%a %d %b %H:%M}"))
    now = cms.clock.now()
    weekends = sorted({(now - dt.timedelta(days=d)).date() for d in range(0, 90)
                       if (now - dt.timedelta(days=d)).weekday() == 5})
    return Picture(timeline(
        spans, now=now, states=TIMELINE_STATES,
        boundaries=[(day, "Sat") for day in weekends[-2:]],
        title="The incidents: unnoticed, then investigated",
        desc=f"{len(rows)} incidents, each from the day its copy was made to the day the "
        "report reached the privacy desk, then the investigation until it closed.",
        empty="no incidents in this sandbox"))
