"""Planting consent histories for the consent exercises (00-newsletter-consent,
03-share-with-foundation): the boundary cases of the ledger's rules, put in by ``prepare``
for any seed, so both variants hold them.

The boundaries (art. 4(11), 6(1)(a), 7(3) GDPR; recital 32; EDPB Guidelines 05/2020): a
withdrawal exactly at the moment of processing counts (processing must stop from then on);
a grant exactly then counts too; a grant dated after that moment does not count yet; a new
valid grant after a withdrawal counts again; a pre-ticked box, accepting the terms or a box
required to check out is no consent; a consent for another purpose says nothing about this
one. The reference for what each history means is the ledger itself (``cms.consent``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from grading import engine
from sandbox_cms.core import scope
from sandbox_cms.core.moments import to_iso

# One event of a script: (purpose, event, text version, method, channel, when).
Event = tuple[str, str, str, str, str, dt.datetime]


def known_texts(cms: Any, purpose: str) -> set[str]:
    """The consent text versions on record for ``purpose`` in this sandbox."""
    rows = engine.read(cms, "SELECT version FROM consent_texts WHERE purpose = ?", (purpose,))
    return {r["version"] for r in rows}


def record(cms: Any, customer_id: int, event: Event) -> None:
    """Append one consent event to the ledger.

    Through ``cms.consent.record`` where it can; an event it refuses on purpose (dated after
    the sandbox clock, or for a text this scenario does not have) is written straight into
    the ledger the way the synthetic generator writes its rows, because the exercise needs it
    there: a learner's code must not count it.
    """
    purpose, kind, version, method, channel, when = event
    when = when.replace(microsecond=0)
    if when <= cms.clock.now() and version in known_texts(cms, purpose):
        cms.consent.record(customer_id, purpose, kind, version, method, channel, at=when)
        return
    conn = cms.connection
    with scope.system(conn):
        conn.execute(
            "INSERT INTO consent_events (customer_id, purpose, event, at, text_version, method,"
            " channel, provenance_id) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (customer_id, purpose, kind, to_iso(when), version, method, channel))


def customers_without_events(cms: Any) -> list[int]:
    """Ids of customers with no consent event at all (for any purpose), in id order."""
    rows = engine.read(
        cms, "SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM consent_events"
        " WHERE customer_id IS NOT NULL) ORDER BY id")
    return [r["id"] for r in rows]
