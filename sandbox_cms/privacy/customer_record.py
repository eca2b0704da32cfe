"""A customer record opened under a purpose: only that purpose's columns, each read audited.

Opening a record always names a purpose from the register (art. 30). The record shows, per
table about the customer, exactly the columns the purpose may use (purpose limitation, art.
5(1)(b); data minimisation, art. 5(1)(c)); every read goes through
``cms.processing(purpose)``, so the access is in the audit log with the customer's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox_cms.core import scope
from sandbox_cms.core.errors import SandboxError
from sandbox_cms.privacy.policy import schema_columns

# Tables that hold rows about one customer, with the column that links them to the customer.
RECORD_TABLES: dict[str, str] = {
    "customers": "id",
    "orders": "customer_id",
    "invoices": "customer_id",
    "consent_events": "customer_id",
    "mailing_recipients": "customer_id",
    "disclosures": "customer_id",
}
MAX_ROWS = 100  # per table; a record page is not an export


class CustomerNotFound(SandboxError):
    """No customer has this id."""


class RecordRefused(SandboxError):
    """The chosen purpose may not open a customer record (internal, or no customer data)."""


@dataclass(frozen=True)
class Section:
    table: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class CustomerRecord:
    customer_id: int
    purpose: Any  # the register's Purpose
    sections: list[Section]


def purpose_columns(purpose: Any, table: str) -> tuple[str, ...]:
    """The columns of ``table`` a purpose may use, in schema order ('table.*' means all)."""
    allowed = set()
    for item in purpose.columns:
        name, _, column = item.partition(".")
        if name == table:
            allowed.add(column)
    every = schema_columns().get(table, ())
    return tuple(column for column in every if "*" in allowed or column in allowed)


def customer_exists(cms: Any, customer_id: int) -> bool:
    """Whether a customer with this id exists (the CMS's own check: no personal data is read)."""
    conn = cms.connection
    with scope.system(conn, write=False):
        return conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone() \
            is not None


def open_record(cms: Any, customer_id: int, purpose_name: str,
                actor: str = "learner") -> CustomerRecord:
    """The record of one customer as ``purpose_name`` may see it.

    Raises :class:`RecordRefused` for a purpose that is internal to the CMS (the mechanisms
    of data-subject requests, retention and consent proof use those, not a person browsing)
    or covers no customer data, and
    :class:`CustomerNotFound` when there is no such customer; an unknown purpose raises the
    register's own error.
    """
    purpose = cms.register.purpose(purpose_name)
    if purpose.internal:
        raise RecordRefused(
            f"the purpose {purpose_name!r} is internal to the CMS (it serves its own "
            f"mechanisms); a person cannot open a customer record under it (purpose "
            f"limitation, art. 5(1)(b))")
    plan = {table: purpose_columns(purpose, table) for table in RECORD_TABLES}
    if not plan["customers"]:
        raise RecordRefused(
            f"the purpose {purpose_name!r} covers no columns of the customers table, so a "
            f"customer record cannot be opened under it (purpose limitation, art. 5(1)(b))")
    sections = []
    with cms.processing(purpose_name, actor=actor) as p:
        for table, columns in plan.items():
            if not columns:
                continue
            key = RECORD_TABLES[table]
            order = next((c for c in ("id", "mailing_id") if c in columns), None)
            rows = p.query(
                f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ?"
                f"{f' ORDER BY {order}' if order else ''} LIMIT {MAX_ROWS}", [customer_id])
            if table == "customers" and not rows:
                raise CustomerNotFound(f"there is no customer with id {customer_id}")
            sections.append(Section(table, columns, rows))
    return CustomerRecord(customer_id, purpose, sections)
