"""The shop front's checkout: an order, its invoice, and one separate consent per purpose.

The checkout asks for each consent purpose on its own, with an unticked box and the
information a person needs to decide (EDPB Guidelines 05/2020 para 64: who asks, for what,
which data, and that it can be withdrawn). A ticked box becomes exactly one consent event,
with the text version that was shown, method ``separate_checkbox``, channel ``checkout``
(proof of consent, art. 7(1)). Buying never depends on consenting (art. 7(4)).

Typing an address proves nothing about whose it is. When the address belongs to an existing
customer, the order is placed as a **guest order** (no customer on the order or invoice; the
invoice bills the name typed, the buyer's own) and nothing is written on that customer's
record: no order, no consent. A mail to the address on file (the simulated outbox) asks the
account holder to confirm; only then does the order join the account and are the ticked
consents recorded, as given by the person who confirmed (art. 7(1): the controller must be
able to show *that person* consented). Unconfirmed, the link expires after
:data:`CONFIRM_WITHIN_DAYS` days and is deleted (art. 5(1)(c), (e)); the guest order stays,
as the sale it is (art. 6(1)(b), 6(1)(c) for the invoice).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox_cms.core import scope
from sandbox_cms.core.errors import SandboxError
from sandbox_cms.core.moments import add_days
from sandbox_cms.data import guard
from sandbox_cms.data.build import GENERATOR_VERSION
from sandbox_cms.data.scenario import load_scenario

CHANNEL = "checkout"
METHOD = "separate_checkbox"
PROVENANCE = "typed into the sandbox shop front (checkout form)"
ORDER_PURPOSE = "order_fulfilment"
INVOICE_PURPOSE = "invoicing"
VAT_RATE = 0.21
MAX_QUANTITY = 20
CUSTOMER_FIELDS = ("first_name", "last_name", "email", "street", "house_number", "postcode",
                   "city")
WITHDRAWAL = ("You can withdraw this consent at any time, as easily as you gave it: tick its "
              "box on the shop's \"My data\" page, or ask the shop. Withdrawing does not "
              "affect your order or what was done before (GDPR art. 7(3)).")


class CheckoutRefused(SandboxError):
    """The checkout form holds something the shop cannot accept (the message says what)."""


@dataclass(frozen=True)
class ConsentQuestion:
    """One optional consent at the checkout, with everything the person needs to decide."""

    purpose: str
    title: str
    text_version: str
    text: str
    controller: str
    data: tuple[str, ...]
    why: str
    legal_basis: str
    withdrawal: str = WITHDRAWAL


@dataclass(frozen=True)
class Product:
    id: int
    sku: str
    name: str
    price_cents: int


@dataclass(frozen=True)
class Receipt:
    customer_id: int | None  # None: a guest order, waiting for the address holder's confirmation
    order_id: int
    invoice_number: str
    total_cents: int
    consent_event_ids: tuple[int, ...]
    consents: tuple[str, ...]
    awaiting_confirmation: bool = False


CONFIRM_WITHIN_DAYS = 7
LINKS_TABLE = "checkout_confirmations"
_LINKS_DDL = f"""
    CREATE TABLE IF NOT EXISTS {LINKS_TABLE} (
        id INTEGER PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        customer_id INTEGER NOT NULL,    -- the account holder asked to confirm
        order_id INTEGER NOT NULL,
        invoice_id INTEGER NOT NULL,
        consents TEXT NOT NULL,          -- JSON {{purpose: text version shown}}
        sent_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )"""


@dataclass(frozen=True)
class CheckoutMail:
    """The simulated mail asking an account holder to confirm an order placed with their
    address (the address is read from the customer record when shown, never copied)."""

    id: int
    token: str
    to_address: str | None
    order_id: int
    consents: tuple[str, ...]
    sent_at: str
    expires_at: str

    @property
    def subject(self) -> str:
        return "Was this order yours? Please confirm"

    @property
    def body(self) -> str:
        wanted = (f" and the consents you ticked are recorded ({', '.join(self.consents)})"
                  if self.consents else "")
        return (f"An order (number {self.order_id}) was placed in this shop with this e-mail "
                f"address. If it was you, confirm by {self.expires_at[:10]} with this code: "
                f"{self.token} (or open /shop/confirm/{self.token}): the order then joins your "
                f"account{wanted}. If it was not you, ignore this mail: nothing is added to your "
                "account and this question is deleted when it expires.")


def controller_name(cms: Any) -> str:
    """The shop that asks (the controller): the scenario's title."""
    try:
        return load_scenario(cms.meta("scenario") or "webshop").title
    except SandboxError:
        return "this webshop"


def consent_questions(cms: Any) -> list[ConsentQuestion]:
    """One question per consent purpose that has a published text: the newest one."""
    now = cms.clock.now().date().isoformat()
    conn = cms.connection
    with scope.system(conn, write=False):
        rows = conn.execute(
            "SELECT purpose, version, text FROM consent_texts WHERE published_at <= ? "
            "ORDER BY purpose, published_at, version", (now,)).fetchall()
    latest: dict[str, tuple[str, str]] = {}
    for purpose, version, text in rows:
        latest[purpose] = (version, text)
    controller = controller_name(cms)
    questions = []
    for name, (version, text) in latest.items():
        purpose = cms.register.purposes.get(name)
        if purpose is None or purpose.legal_ground != "consent":
            continue
        categories = sorted({cms.register.category_of(c) or c for c in purpose.columns
                             if cms.register.is_personal(c)} - {"identifier"})
        questions.append(ConsentQuestion(
            purpose=name, title=purpose.title, text_version=version, text=text,
            controller=controller, data=tuple(categories), why=purpose.description,
            legal_basis=f"your consent, GDPR art. {purpose.article}"))
    return questions


def products(cms: Any) -> list[Product]:
    """The catalogue (not personal data)."""
    conn = cms.connection
    with scope.system(conn, write=False):
        rows = conn.execute(
            "SELECT id, sku, name, price_cents FROM products ORDER BY id").fetchall()
    return [Product(*row) for row in rows]


def place_order(cms: Any, customer: dict[str, str], sku: str, quantity: int,
                consents: Iterable[str]) -> Receipt:
    """Create (or find by e-mail) the customer, the order, its invoice and the consent events.

    Everything happens in one transaction: a refusal leaves the sandbox unchanged.
    """
    questions = {q.purpose: q for q in consent_questions(cms)}
    chosen = tuple(dict.fromkeys(consents))
    unknown = [c for c in chosen if c not in questions]
    if unknown:
        raise CheckoutRefused(f"there is no consent question for {', '.join(unknown)}")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CheckoutRefused(f"the quantity must be between 1 and {MAX_QUANTITY}")
    catalogue = {p.sku: p for p in products(cms)}
    if sku not in catalogue:
        raise CheckoutRefused(f"there is no product {sku!r} in the shop")
    product = catalogue[sku]
    record = {field: customer.get(field, "") for field in CUSTOMER_FIELDS}
    record["email"] = record["email"].lower()
    problems = guard.check_customer(record)
    if problems:
        raise CheckoutRefused("; ".join(problems))

    now = cms.clock.now().replace(microsecond=0)
    stamp = now.isoformat()
    total = product.price_cents * quantity
    purge_expired_confirmations(cms)
    with scope.transaction(cms.connection):
        with cms.processing(ORDER_PURPOSE, actor="shop") as p:
            found = p.query("SELECT id FROM customers WHERE email = ?", (record["email"],))
            holder = found[0]["id"] if found else None
            # An address already on file: a guest order, nothing on the holder's record.
            customer_id = None if holder is not None else _create_customer(cms, record, stamp)
            order_id = _insert(p, "orders", {
                "customer_id": customer_id, "ordered_at": stamp, "status": "paid",
                "total_cents": total, "provenance_id": _provenance(cms)}, customer_id)
            _insert(p, "order_items", {
                "order_id": order_id, "product_id": product.id, "quantity": quantity,
                "unit_price_cents": product.price_cents}, customer_id)
        with cms.processing(INVOICE_PURPOSE, actor="shop") as p:
            number = _next_invoice_number(p, now)
            invoice_id = _insert(p, "invoices", {
                "number": number, "order_id": order_id, "customer_id": customer_id,
                "issued_at": now.date().isoformat(),
                "billing_name": f"{record['first_name']} {record['last_name']}",
                "billing_street": f"{record['street']} {record['house_number']}".strip(),
                "billing_postcode": record["postcode"], "billing_city": record["city"],
                "amount_cents": total, "vat_cents": round(total * VAT_RATE / (1 + VAT_RATE)),
                "provenance_id": _provenance(cms)}, customer_id)
        if holder is not None:
            _ask_holder(cms, holder, order_id, invoice_id,
                        {c: questions[c].text_version for c in chosen}, now)
            return Receipt(None, order_id, number, total, (), chosen, awaiting_confirmation=True)
        event_ids = tuple(
            cms.consent.record(customer_id, purpose, "granted", questions[purpose].text_version,
                               METHOD, CHANNEL, at=now)
            for purpose in chosen)
    return Receipt(customer_id, order_id, number, total, event_ids, chosen)


def _links_table(cms: Any) -> bool:
    conn = cms.connection
    with scope.system(conn, write=False):
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (LINKS_TABLE,)).fetchone() is not None


def _ask_holder(cms: Any, holder: int, order_id: int, invoice_id: int,
                consents: dict[str, str], now: dt.datetime) -> None:
    """Hold the link (and the ticked consents) until the address holder confirms by mail."""
    conn = cms.connection
    with scope.system(conn):
        conn.execute(_LINKS_DDL)
        link_id = conn.execute(
            f"INSERT INTO {LINKS_TABLE} (token, customer_id, order_id, invoice_id, consents, "
            "sent_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (secrets.token_urlsafe(16), holder, order_id, invoice_id, json.dumps(consents),
             now.isoformat(), add_days(now.isoformat(), CONFIRM_WITHIN_DAYS))).lastrowid
    cms.audit.append(actor="shop", purpose=ORDER_PURPOSE, action="insert", table=LINKS_TABLE,
                     columns=[f"{LINKS_TABLE}.customer_id", f"{LINKS_TABLE}.order_id"],
                     row_ids=[holder], detail={"channel": CHANNEL, "link": link_id,
                                               "why": "address on file: confirm by mail"})


def purge_expired_confirmations(cms: Any) -> int:
    """Delete the confirmation questions nobody answered in time; return how many."""
    if not _links_table(cms):
        return 0
    now = cms.clock.now().replace(microsecond=0).isoformat()
    conn = cms.connection
    with scope.system(conn):
        gone = conn.execute(f"SELECT id, customer_id FROM {LINKS_TABLE} WHERE expires_at <= ?",
                            (now,)).fetchall()
        if gone:
            conn.execute(f"DELETE FROM {LINKS_TABLE} WHERE expires_at <= ?", (now,))
    if gone:
        cms.audit.append(actor="shop", purpose=ORDER_PURPOSE, action="delete",
                         table=LINKS_TABLE, columns=[f"{LINKS_TABLE}.*"],
                         row_ids=sorted({c for _, c in gone}),
                         detail={"expired": len(gone), "article": "5(1)(e)"})
    return len(gone)


def checkout_mails(cms: Any) -> list[CheckoutMail]:
    """The confirmation questions still open, newest first (expired ones are deleted first)."""
    purge_expired_confirmations(cms)
    if not _links_table(cms):
        return []
    with cms._internal(WITHDRAWAL_PURPOSE, "shop") as p:  # the address on file, nothing else
        addresses = {r["id"]: r["email"] for r in p.query(
            f"SELECT c.id, c.email FROM customers AS c WHERE c.id IN "
            f"(SELECT customer_id FROM {LINKS_TABLE})")}
    conn = cms.connection
    with scope.system(conn, write=False):
        rows = conn.execute(f"SELECT id, token, customer_id, order_id, consents, sent_at, "
                            f"expires_at FROM {LINKS_TABLE} ORDER BY id DESC").fetchall()
    return [CheckoutMail(i, token, addresses.get(holder), order, tuple(json.loads(consents)),
                         sent, expires)
            for i, token, holder, order, consents, sent, expires in rows]


def awaiting_checkout(cms: Any, token: str) -> bool:
    """True when a confirmation question with this code is open."""
    purge_expired_confirmations(cms)
    if not _links_table(cms):
        return False
    conn = cms.connection
    with scope.system(conn, write=False):
        return conn.execute(f"SELECT 1 FROM {LINKS_TABLE} WHERE token = ?",
                            (str(token),)).fetchone() is not None


def confirm_checkout(cms: Any, token: str) -> Receipt:
    """The address holder confirms: the order and invoice join their account and the consents
    ticked at the checkout are recorded now, by them. Raises for an unknown or expired code."""
    purge_expired_confirmations(cms)
    if not _links_table(cms):
        raise CheckoutRefused("this confirmation code is unknown or expired")
    conn = cms.connection
    with scope.system(conn, write=False):
        row = conn.execute(f"SELECT id, customer_id, order_id, invoice_id, consents "
                           f"FROM {LINKS_TABLE} WHERE token = ?", (str(token),)).fetchone()
    if row is None:
        raise CheckoutRefused("this confirmation code is unknown or expired")
    link_id, holder, order_id, invoice_id, consents = row
    chosen = json.loads(consents)
    now = cms.clock.now().replace(microsecond=0)
    with scope.transaction(conn):
        with cms.processing(ORDER_PURPOSE, actor="shop") as p:
            p.execute("UPDATE orders SET customer_id = ? WHERE id = ? AND customer_id IS NULL",
                      (holder, order_id), customer_ids=[holder])
        with cms.processing(INVOICE_PURPOSE, actor="shop") as p:
            p.execute("UPDATE invoices SET customer_id = ? WHERE id = ? AND customer_id IS NULL",
                      (holder, invoice_id), customer_ids=[holder])
            number = p.query("SELECT number, amount_cents FROM invoices WHERE id = ?",
                             (invoice_id,))
        event_ids = tuple(cms.consent.record(holder, purpose, "granted", version, METHOD,
                                             CHANNEL, at=now)
                          for purpose, version in chosen.items())
        with scope.system(conn):
            conn.execute(f"DELETE FROM {LINKS_TABLE} WHERE id = ?", (link_id,))
    return Receipt(holder, order_id, number[0]["number"] if number else "",
                   number[0]["amount_cents"] if number else 0, event_ids, tuple(chosen))


def _create_customer(cms: Any, record: dict[str, str], stamp: str) -> int:
    """A new account for an address not on file.

    The purpose gate refuses an INSERT into a table unless the purpose may use every column
    of it (an INSERT writes whole rows), and no purpose a person works under covers a whole
    customer (date of birth, IBAN). Opening the account is the shop's own step of the
    contract, so it runs in the CMS's system scope and is logged under ``order_fulfilment``
    with exactly the columns written.
    """
    values = {**record, "country": "NL", "created_at": stamp, "provenance_id": _provenance(cms)}
    names = list(values)
    conn = cms.connection
    with scope.system(conn):
        customer_id = conn.execute(
            f"INSERT INTO customers ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [values[name] for name in names]).lastrowid
    cms.audit.append(actor="shop", purpose=ORDER_PURPOSE, action="insert", table="customers",
                     columns=[f"customers.{name}" for name in names], row_ids=[customer_id],
                     detail={"channel": CHANNEL})
    return customer_id


def _insert(p: Any, table: str, values: dict[str, Any], customer_id: int | None) -> int:
    """Insert one row through the processing context (checked and audited); return its id."""
    names = list(values)
    p.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
              [values[name] for name in names],
              customer_ids=[] if customer_id is None else [customer_id])
    return p.connection.execute("SELECT last_insert_rowid()").fetchone()[0]


def _next_invoice_number(p: Any, now: dt.datetime) -> str:
    prefix = f"{now.year}-"
    rows = p.query("SELECT number FROM invoices WHERE number >= ? AND number < ? "
                   "ORDER BY number DESC LIMIT 1", (prefix, f"{now.year}."))
    if not rows:
        return f"{prefix}{1:07d}"
    digits = rows[0]["number"].split("-", 1)[1]
    return f"{prefix}{int(digits) + 1:0{len(digits)}d}"


def _provenance(cms: Any) -> int:
    """The provenance row of everything typed into the shop front (created once)."""
    conn = cms.connection
    with scope.system(conn, write=False):
        row = conn.execute("SELECT id FROM provenance WHERE source = 'import' AND detail = ?",
                           (PROVENANCE,)).fetchone()
    if row:
        return row[0]
    with scope.system(conn):
        return conn.execute(
            "INSERT INTO provenance (source, scenario, seed, generator_version, detail) "
            "VALUES ('import', NULL, NULL, ?, ?)", (GENERATOR_VERSION, PROVENANCE)).lastrowid


# -- withdrawing a consent ("my data") ---------------------------------------------------------

WITHDRAWAL_CHANNEL = "my_data"
WITHDRAWAL_PURPOSE = "consent_administration"  # reads the address and the ledger, nothing else


def withdraw_consents(cms: Any, email: str, purposes: Iterable[str]) -> tuple[int, ...]:
    """Withdraw the consents of the customer with this e-mail address; return the event ids.

    As easy as giving (art. 7(3); EDPB Guidelines 05/2020 paras 113-116): the checkout took a
    consent from a ticked box next to a typed address, so a ticked box per purpose next to the
    address withdraws it, on the same site, at once. One withdrawal event per purpose whose
    latest event is a grant, with the text version of that grant (or the newest text if that
    one is not on record), method ``separate_checkbox``, channel ``my_data``. An unknown
    address or a purpose without a grant changes nothing and raises nothing, so the answer
    cannot tell anyone who is a customer.
    """
    questions = {q.purpose: q for q in consent_questions(cms)}
    chosen = tuple(dict.fromkeys(purposes))
    unknown = [c for c in chosen if c not in questions]
    if unknown or not chosen:
        raise CheckoutRefused(
            f"there is no consent to withdraw for {', '.join(unknown)}" if unknown
            else "tick at least one consent to withdraw")
    address = email.strip().lower() if isinstance(email, str) else ""
    with cms._internal(WITHDRAWAL_PURPOSE, "shop") as p:
        found = p.query("SELECT id FROM customers WHERE email = ?", (address,))
    if not address or not found:
        return ()
    customer_id = found[0]["id"]
    now = cms.clock.now().replace(microsecond=0)
    ids = []
    with scope.transaction(cms.connection):
        for purpose in chosen:
            events = cms.consent.events(customer_id, purpose)
            if not events or events[-1].event != "granted":
                continue
            version = events[-1].text_version
            if not _text_on_record(cms, purpose, version):
                version = questions[purpose].text_version
            ids.append(cms.consent.record(customer_id, purpose, "withdrawn", version, METHOD,
                                          WITHDRAWAL_CHANNEL, at=now))
    return tuple(ids)


def _text_on_record(cms: Any, purpose: str, version: str) -> bool:
    conn = cms.connection
    with scope.system(conn, write=False):  # consent texts are policy, not personal data
        return conn.execute("SELECT 1 FROM consent_texts WHERE purpose = ? AND version = ?",
                            (purpose, version)).fetchone() is not None
