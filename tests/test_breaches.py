"""``cms.breaches`` (sandbox_cms/privacy/breaches.py): the incident reports and the breach
register of art. 33(5) GDPR.

- the tables appear on first use, in a sandbox built without them, and hold no personal data
  (no customer id, no column the categories file calls personal);
- filing an incident checks the exposed columns against the schema and is in the audit log;
- a register entry is written through a processing context, under its purpose, dated by the
  sandbox clock; unknown categories and incidents are refused;
- learner code cannot create the tables itself (a schema change), the CMS can.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from sandbox_cms import fresh_sandbox, open_sandbox
from sandbox_cms.core.errors import ProcessingError, PurposeViolation
from sandbox_cms.privacy.breaches import PURPOSE, TABLES


@pytest.fixture
def cms(tmp_path):
    sandbox = fresh_sandbox(scenario="webshop", customers=60, path=tmp_path / "s.db")
    yield sandbox
    sandbox.close()


def _incident(cms, **more):
    values = dict(title="Copy on a test server", description="A readable folder.",
                  copy_made_at="2025-01-10T14:00:00", reported_at=dt.datetime(2025, 2, 28, 15),
                  reported_by="a researcher", columns=["customers.first_name",
                                                       "customers.iban"], people=12)
    values.update(more)
    return cms.breaches.report_incident(**values)


def _tables(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def test_the_tables_come_on_first_use_and_hold_no_personal_data(cms) -> None:
    assert not set(TABLES) & _tables(cms.path)  # a sandbox as built: without them
    assert cms.breaches.incidents() == [] and cms.breaches.entries() == []
    assert set(TABLES) <= _tables(cms.path)
    personal = {c.split(".", 1)[1] for c in cms.register.personal_columns
                if c.startswith("customers.")} - {"id"}  # a customer's values
    conn = sqlite3.connect(cms.path)
    try:
        for table in TABLES:
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            assert "customer_id" not in columns
            assert not columns & personal, (table, columns & personal)
    finally:
        conn.close()
    cms.breaches.install()  # twice is fine
    reopened = open_sandbox(cms.path)  # a sandbox with the tables still opens
    reopened.close()


def test_an_incident_is_filed_checked_and_audited(cms) -> None:
    incident = _incident(cms, incident_id=301, encrypted=True)
    [row] = cms.breaches.incidents()
    assert row["id"] == incident == 301
    assert row["columns"] == ["customers.first_name", "customers.iban"]
    assert row["reported_at"] == "2025-02-28T15:00:00" and row["encrypted"] == 1
    cms.flush()
    logged = [e for e in cms.audit.entries(action="incident_reported")]
    assert logged and logged[-1].purpose == PURPOSE
    with pytest.raises(ProcessingError, match="customers.shoe_size"):
        _incident(cms, columns=["customers.shoe_size"])
    with pytest.raises(ProcessingError):
        _incident(cms, columns=[])


def test_a_register_entry_goes_through_a_purpose_and_the_sandbox_clock(cms) -> None:
    incident = _incident(cms)
    with cms.processing(PURPOSE) as p:
        entry = cms.breaches.record(
            p, incident, facts="A copy lay readable on a test server.",
            effects="Names and bank accounts of 12 people could be read.",
            remedial_action="Folder closed, copy deleted.",
            categories=["identity", "financial"], people=12, authority_notified=True,
            people_notified=True)
        with pytest.raises(ProcessingError, match="unknown data categories"):
            cms.breaches.record(p, incident, facts="x", effects="x", remedial_action="x",
                                categories=["shoe_size"], people=1, authority_notified=False,
                                people_notified=False)
        with pytest.raises(ProcessingError, match="no incident 999"):
            cms.breaches.record(p, 999, facts="x", effects="x", remedial_action="x",
                                categories=[], people=1, authority_notified=False,
                                people_notified=False)
    [row] = cms.breaches.entries()
    assert row["id"] == entry and row["categories"] == ["financial", "identity"]
    assert row["recorded_at"] == cms.clock.now().isoformat(timespec="seconds")
    assert (row["authority_notified"], row["people_notified"], row["reasons"]) == (1, 1, None)


def test_learner_code_cannot_create_the_tables_itself(cms) -> None:
    with cms.processing(PURPOSE) as p, pytest.raises(PurposeViolation):
        p.execute(TABLES["incidents"])
    assert "incidents" not in _tables(cms.path)
    cms.breaches.install()
    assert "incidents" in _tables(cms.path)
