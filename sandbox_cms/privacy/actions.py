"""Actions that matter legally, as explicit calls on a processing context.

Each action first checks that the columns it needs are in the purpose (refused in enforce
mode, recorded in record mode), then does its work and its audit entry in one transaction.
The entry names the purpose, the columns and the customer ids, never the values.

=============  ====================================================  =====================
action         columns it needs in the purpose                       writes
=============  ====================================================  =====================
send_mailing   customers.email, mailing_recipients.*                 mailings, recipients
share          the columns shared, disclosures.*                     disclosures
export         the columns exported                                  (returns the data)
delete         every personal column of the table (a row goes whole)  the rows removed
anonymise      every identifying column of customers                 customers
=============  ====================================================  =====================

Whether a customer *may* be mailed or shared (consent, art. 6(1)(a) and 7) is not decided
here: that is what the learner's code must get right, and what the grader checks.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any, Protocol

from sandbox_cms.core import scope
from sandbox_cms.core.clock import Clock
from sandbox_cms.core.errors import ProcessingError, UnknownCustomer
from sandbox_cms.core.schema import PROTECTED_TABLES
from sandbox_cms.privacy import audit
from sandbox_cms.privacy.policy import Register, schema_columns


class _Sandbox(Protocol):
    clock: Clock
    register: Register


class Processing(Protocol):
    """What an action needs of the processing context it runs in
    (``sandbox_cms.privacy.access.Processing``, which calls these functions)."""

    actor: str
    name: str | None
    sandbox: _Sandbox

    @property
    def connection(self) -> sqlite3.Connection: ...

    def flush(self) -> None: ...

    def require(self, columns: Iterable[str], doing: str) -> list[str]: ...

# How each table's rows lead to a customer: a column, or (for order_items) a join.
CUSTOMER_LINK: dict[str, str] = {
    "customers": "id",
    "orders": "customer_id",
    "invoices": "customer_id",
    "consent_events": "customer_id",
    "mailing_recipients": "customer_id",
    "disclosures": "customer_id",
    "dsr_requests": "customer_id",
}
# What anonymise removes from a customer record, and what it writes instead.
ANONYMISED: dict[str, Any] = {
    "first_name": "Anonymised",
    "last_name": "",
    "phone": None,
    "street": None,
    "house_number": None,
    "postcode": None,
    "city": None,
    "birth_date": None,
    "iban": None,
    "company": None,
}


def _customer_ids(values: Iterable[int]) -> list[int]:
    if isinstance(values, int | str):
        raise ProcessingError("customer_ids must be a list of customer ids, not a single value")
    ids = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProcessingError(f"customer ids must be integers, not {value!r}")
        ids.add(value)
    return sorted(ids)


def _existing(p: Processing, ids: list[int]) -> list[int]:
    """The ids, checked against the customers table (UnknownCustomer names the missing)."""
    with scope.system(p.connection, write=False):
        found = {row[0] for row in p.connection.execute(
            "SELECT c.id FROM customers c JOIN json_each(?) j ON c.id = j.value",
            (json.dumps(ids),),
        )}
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise UnknownCustomer(f"no customer with id {shown}: nothing was done")
    return ids


def _columns(names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    tables = schema_columns()
    result = set()
    for name in names:
        table, _, column = str(name).partition(".")
        if table not in tables:
            raise ProcessingError(
                f"unknown column {name!r}: use 'table.column', e.g. 'customers.email'"
            )
        if column == "*":
            result.update(f"{table}.{c}" for c in tables[table])
        elif column in tables[table]:
            result.add(f"{table}.{column}")
        else:
            raise ProcessingError(
                f"unknown column {name!r}: table {table} has no column {column!r}"
            )
    if not result:
        raise ProcessingError("name at least one column")
    return sorted(result)


def _log(p: Processing, action: str, table: str | None, columns: list[str], ids: list[int],
         detail: dict[str, Any] | None = None) -> int:
    return audit.append(p.connection, at=p.sandbox.clock.now(), actor=p.actor, purpose=p.name,
                        action=action, table=table, columns=columns, row_ids=ids, detail=detail)


def send_mailing(p: Processing, customer_ids: Iterable[int], subject: str) -> int:
    """Send a mailing with ``subject`` to the customers; returns the mailing id."""
    if not isinstance(subject, str) or not subject.strip():
        raise ProcessingError("a mailing needs a non-empty subject")
    needed = ["customers.email", "mailing_recipients.customer_id",
              "mailing_recipients.mailing_id"]
    p.require(needed, "send a mailing")
    ids = _existing(p, _customer_ids(customer_ids))
    p.flush()
    now = p.sandbox.clock.now()
    with scope.system(p.connection):
        cursor = p.connection.execute(
            "INSERT INTO mailings (purpose, subject, sent_at) VALUES (?, ?, ?)",
            (p.name or "", subject, now.isoformat()),
        )
        mailing_id = int(cursor.lastrowid or 0)
        p.connection.executemany(
            "INSERT INTO mailing_recipients (mailing_id, customer_id) VALUES (?, ?)",
            [(mailing_id, i) for i in ids],
        )
        _log(p, "send_mailing", "mailings", needed, ids,
             {"mailing_id": mailing_id, "recipients": len(ids)})
    return mailing_id


def share(p: Processing, recipient: str, customer_ids: Iterable[int],
          columns: Iterable[str]) -> int:
    """Record a disclosure of ``columns`` of these customers to ``recipient``."""
    if not isinstance(recipient, str) or not recipient.strip():
        raise ProcessingError("name the recipient of the shared data")
    shared = _columns(columns)
    needed = sorted({*shared, "disclosures.customer_id", "disclosures.recipient"})
    p.require(needed, f"share with {recipient}")
    ids = _existing(p, _customer_ids(customer_ids))
    p.flush()
    now = p.sandbox.clock.now().isoformat()
    with scope.system(p.connection):
        p.connection.executemany(
            "INSERT INTO disclosures (customer_id, recipient, purpose, columns, at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(i, recipient, p.name or "", json.dumps(shared), now) for i in ids],
        )
        _log(p, "share", "disclosures", shared, ids, {"recipient": recipient})
    return len(ids)


def export(p: Processing, customer_ids: Iterable[int],
           columns: Iterable[str]) -> list[dict[str, Any]]:
    """The requested columns of these customers, one dict per customer.

    Columns of ``customers`` appear as keys; other tables as a list of row dicts under the
    table's name (``order_items`` through the customer's orders).
    """
    wanted = _columns(columns)
    by_table: dict[str, list[str]] = {}
    for column in wanted:
        table, _, name = column.partition(".")
        if table not in CUSTOMER_LINK and table != "order_items":
            raise ProcessingError(f"cannot export {table} per customer: it has no customer link")
        by_table.setdefault(table, []).append(name)
    p.require(wanted, "export")
    ids = _existing(p, _customer_ids(customer_ids))
    p.flush()
    result = {i: {"customer_id": i} for i in ids}
    conn, id_list = p.connection, json.dumps(ids)
    with scope.system(conn, write=False):
        for table, names in by_table.items():
            select = ", ".join(f"t.{n}" for n in names)
            if table == "order_items":
                sql = (f"SELECT o.customer_id, {select} FROM order_items t JOIN orders o"
                       " ON o.id = t.order_id"
                       " WHERE o.customer_id IN (SELECT value FROM json_each(?)) ORDER BY t.id")
            else:
                sql = (f"SELECT t.{CUSTOMER_LINK[table]}, {select} FROM {table} t WHERE"
                       f" t.{CUSTOMER_LINK[table]} IN (SELECT value FROM json_each(?))")
                sql += "" if table == "customers" else " ORDER BY t.rowid"
            for row in conn.execute(sql, (id_list,)):
                values = dict(zip(names, row[1:], strict=True))
                if table == "customers":
                    result[row[0]].update(values)
                else:
                    result[row[0]].setdefault(table, []).append(values)
    with scope.system(conn):
        _log(p, "export", ",".join(sorted(by_table)), wanted, ids, {"customers": len(ids)})
    return [result[i] for i in ids]


def delete(p: Processing, table: str, ids: Iterable[int]) -> int:
    """Delete rows of ``table`` by their ``id``; the purpose must cover the whole row."""
    tables = schema_columns()
    if table not in tables:
        raise ProcessingError(f"unknown table {table!r}")
    if table in PROTECTED_TABLES:
        raise ProcessingError(f"{table} can only be changed by the CMS itself")
    if "id" not in tables[table]:
        raise ProcessingError(f"rows of {table} have no id to delete by")
    register = p.sandbox.register
    personal = [f"{table}.{c}" for c in tables[table] if register.is_personal(f"{table}.{c}")]
    p.require(personal, f"delete from {table}")
    row_ids = _customer_ids(ids)
    conn, id_list = p.connection, json.dumps(row_ids)
    p.flush()
    with scope.system(conn):
        link = CUSTOMER_LINK.get(table)
        if table == "order_items":
            link_sql = ("SELECT t.id, o.customer_id FROM order_items t LEFT JOIN orders o"
                        " ON o.id = t.order_id WHERE t.id IN (SELECT value FROM json_each(?))")
        else:
            link_sql = (f"SELECT id, {link or 'NULL'} FROM {table}"
                        " WHERE id IN (SELECT value FROM json_each(?))")
        found = dict(conn.execute(link_sql, (id_list,)).fetchall())
        missing = [i for i in row_ids if i not in found]
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise ProcessingError(f"no {table} row with id {shown}: nothing was deleted")
        conn.execute(f"DELETE FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
                     (id_list,))
        customers = sorted({c for c in found.values() if isinstance(c, int)})
        _log(p, "delete", table, [f"{table}.*"], customers,
             {"rows": len(row_ids), "ids": row_ids})
    return len(row_ids)


def anonymise(p: Processing, customer_ids: Iterable[int]) -> int:
    """Strip names, contact, address, birth date, bank account and company from customers.

    The e-mail address becomes ``anonymised-<id>@anonymised.invalid`` (the column is NOT
    NULL and unique). Orders and invoices are not touched: whether what remains can still
    single a person out (WP29 Opinion 05/2014) is the caller's question.
    """
    columns = sorted({*(f"customers.{c}" for c in ANONYMISED), "customers.email"})
    p.require(columns, "anonymise")
    ids = _existing(p, _customer_ids(customer_ids))
    p.flush()
    assignments = ", ".join(f"{c} = ?" for c in ANONYMISED)
    with scope.system(p.connection):
        p.connection.executemany(
            f"UPDATE customers SET {assignments}, email = ? WHERE id = ?",
            [(*ANONYMISED.values(), f"anonymised-{i}@anonymised.invalid", i) for i in ids],
        )
        _log(p, "anonymise", "customers", columns, ids, {"customers": len(ids)})
    return len(ids)
