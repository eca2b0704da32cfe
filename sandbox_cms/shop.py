"""The shop front's checkout: an order, its invoice, and one separate consent per purpose.

The checkout asks for each consent purpose on its own, with an unticked box and the
information a person needs to decide (EDPB Guidelines 05/2020 para 64: who asks, for what,
which data, and that it can be withdrawn). A ticked box becomes exactly one consent event,
with the text version that was shown, method ``separate_checkbox``, channel ``checkout``
(proof of consent, art. 7(1)). Buying never depends on consenting (art. 7(4)).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox_cms import guard, scope
from sandbox_cms.build import GENERATOR_VERSION
from sandbox_cms.errors import SandboxError
from sandbox_cms.scenario import load_scenario

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
    customer_id: int
    order_id: int
    invoice_number: str
    total_cents: int
    consent_event_ids: tuple[int, ...]
    consents: tuple[str, ...]


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
    with scope.transaction(cms.connection):
        with cms.processing(ORDER_PURPOSE, actor="shop") as p:
            customer_id = _find_or_create_customer(cms, p, record, stamp)
            order_id = _insert(p, "orders", {
                "customer_id": customer_id, "ordered_at": stamp, "status": "paid",
                "total_cents": total, "provenance_id": _provenance(cms)}, customer_id)
            _insert(p, "order_items", {
                "order_id": order_id, "product_id": product.id, "quantity": quantity,
                "unit_price_cents": product.price_cents}, customer_id)
        with cms.processing(INVOICE_PURPOSE, actor="shop") as p:
            number = _next_invoice_number(p, now)
            _insert(p, "invoices", {
                "number": number, "order_id": order_id, "customer_id": customer_id,
                "issued_at": now.date().isoformat(),
                "billing_name": f"{record['first_name']} {record['last_name']}",
                "billing_street": f"{record['street']} {record['house_number']}".strip(),
                "billing_postcode": record["postcode"], "billing_city": record["city"],
                "amount_cents": total, "vat_cents": round(total * VAT_RATE / (1 + VAT_RATE)),
                "provenance_id": _provenance(cms)}, customer_id)
        event_ids = tuple(
            cms.consent.record(customer_id, purpose, "granted", questions[purpose].text_version,
                               METHOD, CHANNEL, at=now)
            for purpose in chosen)
    return Receipt(customer_id, order_id, number, total, event_ids, chosen)


def _find_or_create_customer(cms: Any, p: Any, record: dict[str, str], stamp: str) -> int:
    """The customer with this e-mail address, or a new account.

    The purpose gate refuses an INSERT into a table unless the purpose may use every column
    of it (an INSERT writes whole rows), and no purpose a person works under covers a whole
    customer (date of birth, IBAN). Opening the account is the shop's own step of the
    contract, so it runs in the CMS's system scope and is logged under ``order_fulfilment``
    with exactly the columns written.
    """
    found = p.query("SELECT id FROM customers WHERE email = ?", (record["email"],))
    if found:
        return found[0]["id"]
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


def _insert(p: Any, table: str, values: dict[str, Any], customer_id: int) -> int:
    """Insert one row through the processing context (checked and audited); return its id."""
    names = list(values)
    p.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
              [values[name] for name in names], customer_ids=[customer_id])
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
