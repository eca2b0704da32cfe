"""Canary records: distinctive synthetic customers planted in an exercise's "production".

A canary is a made-up customer whose values occur nowhere else (a bird's name, a street
that no generator produces, an account number with a fictional bank code). An exercise
plants a few in the sandbox that plays production; if any canary value, or any other
identifying production value, turns up in a learner's output, the output was copied from
production instead of made up, and the grade says so, naming the record.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sandbox_cms.data.guard import make_iban

# Invented, distinctive parts: no Faker pool and no generator produces these.
CANARY_FIRST = ("Wilgard", "Sjoukelien", "Ysbrandine", "Tjalmer", "Geeske-Rosa", "Oebeltje")
CANARY_LAST = ("Kanariezang", "Goudvinkel", "Putterhoven", "Sijsjesberg", "Tjiftjafsma")
CANARY_STREETS = ("Kanarieweg", "Goudvinkpad", "Sijsjeshof", "Putterstraat")
CANARY_BANK = "SYNT"  # a fictional bank code: even a canary is demonstrably synthetic


@dataclass(frozen=True)
class Canary:
    """One planted customer and its identifying values."""

    customer_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    street: str
    iban: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def values(self) -> dict[str, str]:
        """Each identifying value with a plain description of where it came from."""
        who = f"canary customer {self.customer_id} ({self.name})"
        return {
            self.name: f"the name of {who}",
            self.email: f"the e-mail of {who}",
            self.phone: f"the phone number of {who}",
            self.street: f"the street of {who}",
            self.iban: f"the IBAN of {who}",
        }


def make_canaries(seed: int, customer_ids: list[int]) -> list[Canary]:
    """Canaries with distinctive values drawn from ``seed``, one per customer id."""
    rng = random.Random(f"canary-{seed}")
    count = len(customer_ids)
    firsts = rng.sample(CANARY_FIRST, count)
    lasts = rng.sample(CANARY_LAST, count)
    canaries = []
    for i, cid in enumerate(customer_ids):
        token = rng.randrange(100, 1000)
        first, last = firsts[i], lasts[i]
        canaries.append(Canary(
            customer_id=cid,
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}.{token}@kanarie.example",
            phone=f"+31 6 {rng.randrange(10_000_000, 100_000_000)}",
            street=f"{rng.choice(CANARY_STREETS)} {token}",
            iban=make_iban(CANARY_BANK, rng.randrange(10**9, 10**10)),
        ))
    return canaries


def plant_canaries(db_path: str | Path, seed: int, count: int = 3) -> list[Canary]:
    """Turn ``count`` customers among the first hundred into canaries (their orders and
    invoices stay; the invoices get the canary's name and street)."""
    rng = random.Random(f"canary-ids-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            low_ids = [r[0] for r in conn.execute("SELECT id FROM customers ORDER BY id LIMIT 100")]
            canaries = make_canaries(seed, sorted(rng.sample(low_ids, count)))
            for c in canaries:
                street, house = c.street.rsplit(" ", 1)
                conn.execute(
                    "UPDATE customers SET first_name = ?, last_name = ?, email = ?, phone = ?,"
                    " street = ?, house_number = ?, iban = ?, company = NULL WHERE id = ?",
                    (c.first_name, c.last_name, c.email, c.phone, street, house, c.iban,
                     c.customer_id),
                )
                conn.execute(
                    "UPDATE invoices SET billing_name = ?, billing_street = ?"
                    " WHERE customer_id = ?",
                    (c.name, c.street, c.customer_id),
                )
    finally:
        conn.close()
    return canaries


def production_values(db_path: str | Path, canaries: list[Canary]) -> dict[str, str]:
    """Every identifying production value (lower-cased) mapped to a description of its record.

    Single values that identify a person on their own (e-mail, phone, IBAN, every canary
    value), and combinations that do together (name + birth date, address), written as
    ``"first last, 1980-01-31"`` and ``"street 12, 1234 AB"``: a common first and last name
    alone can occur in any synthetic set by chance, so it counts only for canaries.
    """
    known: dict[str, str] = {}
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT id, first_name, last_name, email, phone, iban, birth_date, street,"
            " house_number, postcode FROM customers"
        )
        for cid, first, last, email, phone, iban, birth, street, house, postcode in rows:
            who = f"production customer {cid}"
            known[email.lower()] = f"the e-mail of {who}"
            if phone:
                known[phone.lower()] = f"the phone number of {who}"
            if iban:
                known[iban.lower()] = f"the IBAN of {who}"
            known[f"{first} {last}, {birth}".lower()] = f"the name and birth date of {who}"
            known[f"{street} {house}, {postcode}".lower()] = f"the address of {who}"
    finally:
        conn.close()
    for canary in canaries:
        known.update({value.lower(): what for value, what in canary.values().items()})
    return known


def output_values(db_path: str | Path) -> Iterator[tuple[str, str]]:
    """``(where, value)`` for every text value in every table of a learner's database,
    plus the customers' name, name + birth date and address combinations."""
    conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )]
        for table in tables:
            cursor = conn.execute(f'SELECT rowid, * FROM "{table}"')  # noqa: S608 (own names)
            columns = [d[0] for d in cursor.description][1:]
            for rowid, *values in cursor:
                for column, value in zip(columns, values, strict=True):
                    if isinstance(value, str) and value:
                        yield f"{table}.{column} of row {rowid}", value
                if table == "customers":
                    row = dict(zip(columns, values, strict=True))
                    yield from _customer_combinations(rowid, row)
    finally:
        conn.close()


def _customer_combinations(rowid: int, row: dict) -> Iterator[tuple[str, str]]:
    first, last = row.get("first_name"), row.get("last_name")
    where = f"customers row {rowid}"
    if first and last:
        yield where, f"{first} {last}"
        yield where, f"{first} {last}, {row.get('birth_date')}"
    if row.get("street"):
        yield where, f"{row.get('street')} {row.get('house_number')}, {row.get('postcode')}"
        yield where, f"{row.get('street')} {row.get('house_number')}"
