"""Transactions and the CMS's own "system" scope on a sandbox connection.

``transaction(conn)`` is re-entrant: the outermost level is ``BEGIN IMMEDIATE`` … ``COMMIT``,
inner levels are savepoints, and an exception rolls back only its own level.
``system(conn)`` additionally lifts the purpose gate (see :mod:`sandbox_cms.privacy.access`) for the
CMS's internal work: writing the audit log, moving the clock, installing the register.
It works on any connection; one without a gate simply gets the transaction.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator

_savepoints = itertools.count(1)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One atomic unit of work: everything inside commits together or not at all."""
    if conn.in_transaction:
        name = f"sandbox_sp{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
    else:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextlib.contextmanager
def system(conn: sqlite3.Connection, write: bool = True) -> Iterator[None]:
    """The CMS's own scope: the purpose gate is lifted (and, to write, one transaction)."""
    gate = getattr(conn, "gate", None)
    with contextlib.ExitStack() as stack:
        if gate is not None:
            stack.enter_context(gate.lifted())
        if write:
            stack.enter_context(transaction(conn))
        yield
