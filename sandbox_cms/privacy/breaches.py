"""Personal-data breaches, as ``cms.breaches``: the privacy desk's incident reports and the
breach register of art. 33(5) GDPR.

Two tables beside the schema's, created on first use (:meth:`BreachRegister.install`), so a
sandbox built before them opens as before and gets them when a breach is first handled:

- ``incidents``: what the desk was told: when the data got where they should not be
  (``copy_made_at``), when the report reached the desk (``reported_at``: the moment the shop
  became aware, art. 33(1)), when the investigation closed, which ``customers.<column>``
  were exposed, how many people, whether the copy was encrypted and whether its key was
  compromised;
- ``breach_register``: one entry per breach, notified or not: the facts, its effects, the
  remedial action taken (33(5)), the categories and number of people, whether the authority
  and the people were told and why not.

Neither holds personal data: column and category names, counts and text, never a customer
id or a customer's value. The purpose gate has nothing to refuse in them, and
``datasets/policy/categories.toml`` need not classify them (they are not in
:data:`sandbox_cms.core.schema.TABLES`). Register entries are written through a processing
context (:meth:`BreachRegister.record`, or ``p.execute``), so they carry its purpose.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sandbox_cms.core import scope
from sandbox_cms.core.errors import ProcessingError
from sandbox_cms.privacy.policy import schema_columns

if TYPE_CHECKING:
    from sandbox_cms.privacy.host import SandboxHost

PURPOSE = "breach_investigation"
ACTOR = "breaches"

TABLES: dict[str, str] = {
    "incidents": """
        CREATE TABLE IF NOT EXISTS incidents (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            copy_made_at TEXT NOT NULL,
            reported_at TEXT NOT NULL,
            reported_by TEXT NOT NULL,
            investigation_closed_at TEXT,
            columns TEXT NOT NULL,           -- JSON list of 'table.column'
            people INTEGER NOT NULL,
            encrypted INTEGER NOT NULL,
            key_compromised INTEGER NOT NULL,
            file TEXT
        )""",
    "breach_register": """
        CREATE TABLE IF NOT EXISTS breach_register (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            facts TEXT NOT NULL,
            effects TEXT NOT NULL,
            remedial_action TEXT NOT NULL,
            categories TEXT NOT NULL,        -- JSON list of category names
            people INTEGER NOT NULL,
            authority_notified INTEGER NOT NULL,
            people_notified INTEGER NOT NULL,
            reasons TEXT
        )""",
}


def _stamp(moment: dt.datetime | str) -> str:
    if isinstance(moment, str):
        return dt.datetime.fromisoformat(moment.strip()).isoformat(timespec="seconds")
    return moment.isoformat(timespec="seconds")


class BreachRegister:
    """The incidents and the breach register of one open sandbox."""

    def __init__(self, cms: SandboxHost) -> None:
        self._cms = cms

    def install(self) -> None:
        """Create the two tables if the sandbox lacks them (the CMS's own schema change)."""
        conn = self._cms.connection
        with scope.system(conn):
            for ddl in TABLES.values():
                conn.execute(ddl)

    def report_incident(self, *, title: str, description: str, copy_made_at: dt.datetime | str,
                        reported_at: dt.datetime | str, reported_by: str,
                        columns: Iterable[str], people: int, encrypted: bool = False,
                        key_compromised: bool = False,
                        investigation_closed_at: dt.datetime | str | None = None,
                        file: str | None = None, incident_id: int | None = None) -> int:
        """File what the desk was told; returns the incident's id. ``columns`` are the exposed
        ``'table.column'`` names of the schema. The audit log records the filing."""
        exposed = list(columns)
        known = {f"{t}.{c}" for t, cols in schema_columns().items() for c in cols}
        unknown = [c for c in exposed if c not in known]
        if unknown or not exposed:
            raise ProcessingError(f"an incident names the exposed columns as 'table.column' of "
                                  f"the schema; unknown: {', '.join(unknown) or '(none given)'}")
        if people < 0:
            raise ProcessingError("an incident cannot concern fewer than 0 people")
        self.install()
        conn = self._cms.connection
        with scope.system(conn):
            incident = conn.execute(
                "INSERT INTO incidents (id, title, description, copy_made_at, reported_at,"
                " reported_by, investigation_closed_at, columns, people, encrypted,"
                " key_compromised, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (incident_id, title, description, _stamp(copy_made_at), _stamp(reported_at),
                 reported_by, None if investigation_closed_at is None
                 else _stamp(investigation_closed_at), json.dumps(exposed), int(people),
                 int(encrypted), int(key_compromised), file)).lastrowid
        self._cms.audit.append(actor=ACTOR, purpose=PURPOSE, action="incident_reported",
                               detail={"incident": incident, "reported_at":
                                       _stamp(reported_at), "article": "33(1); 33(5)"})
        return int(incident)

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        self.install()
        conn = self._cms.connection
        with scope.system(conn, write=False):
            cursor = conn.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def incidents(self) -> list[dict[str, Any]]:
        """Every incident, oldest report first, with ``columns`` as a list."""
        rows = self._rows("SELECT * FROM incidents ORDER BY reported_at, id")
        for row in rows:
            row["columns"] = json.loads(row["columns"])
        return rows

    def entries(self) -> list[dict[str, Any]]:
        """Every register entry in the order written, with ``categories`` as a list."""
        rows = self._rows("SELECT * FROM breach_register ORDER BY id")
        for row in rows:
            with contextlib.suppress(TypeError, ValueError):  # not JSON: shown as it is
                row["categories"] = json.loads(row["categories"])
        return rows

    def record(self, p: Any, incident_id: int, *, facts: str, effects: str,
               remedial_action: str, categories: Iterable[str], people: int,
               authority_notified: bool, people_notified: bool, reasons: str | None = None,
               at: dt.datetime | None = None) -> int:
        """Write a register entry through the processing context ``p`` (so under its purpose),
        dated by the sandbox clock unless ``at`` is given; returns the entry's id. A later
        entry for the same incident completes an earlier one (33(4))."""
        names = sorted(set(categories))
        unknown = [c for c in names if c not in self._cms.register.categories]
        if unknown:
            raise ProcessingError(f"unknown data categories {', '.join(unknown)}: use the names "
                                  "of datasets/policy/categories.toml")
        if not any(i["id"] == incident_id for i in self.incidents()):
            raise ProcessingError(f"there is no incident {incident_id} to register")
        p.execute(
            "INSERT INTO breach_register (incident_id, recorded_at, facts, effects,"
            " remedial_action, categories, people, authority_notified, people_notified,"
            " reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (incident_id, _stamp(at or self._cms.clock.now()), facts, effects, remedial_action,
             json.dumps(names), int(people), int(authority_notified), int(people_notified),
             reasons))
        return int(p.query("SELECT MAX(id) AS id FROM breach_register")[0]["id"])
