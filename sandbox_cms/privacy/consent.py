"""The consent ledger: consent events are appended, never changed; the state is derived.

``may(customer, purpose, at)`` answers "may this customer be processed for this purpose at
this moment?" following the GDPR and EDPB Guidelines 05/2020:

- only a valid grant counts: a pre-ticked box, a clause in the terms, a bundle of purposes,
  scrolling or silence is no consent (which ways are valid is data:
  ``datasets/policy/consent_rules.toml``); a grant whose text version is unknown cannot be
  proven (art. 7(1)) and does not count either;
- consent is per purpose (granular): a grant for one purpose says nothing about another;
- the latest counting event at the moment wins, so a withdrawal after a grant wins (art. 7(3))
  and an event after the moment does not count yet;
- a purpose that does not rest on consent is answered from the register (its legal ground).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import ConsentRefused, UnknownCustomer
from sandbox_cms.core.moments import Moment, to_iso
from sandbox_cms.privacy.erasure import ProcessingDb
from sandbox_cms.privacy.host import SandboxHost

RULES_FILE = DATASETS / "policy" / "consent_rules.toml"
PURPOSE = "consent_administration"
EVENTS = ("granted", "withdrawn")
CONSENT_GROUND = "consent"  # the register's name for art. 6(1)(a)
EVENT_COLUMNS = "id, customer_id, purpose, event, at, text_version, method, channel"


@dataclass(frozen=True)
class ConsentMethod:
    """A way of giving (or withdrawing) consent, and whether a grant given so is valid."""

    name: str
    valid: bool
    label: str
    reason: str


@dataclass(frozen=True)
class ConsentEvent:
    """One row of the ledger."""

    id: int
    customer_id: int
    purpose: str
    event: str
    at: str
    text_version: str
    method: str
    channel: str


@dataclass(frozen=True)
class ConsentDecision:
    """The answer to "may we?": allowed or not, why (with the article), and the deciding event."""

    allowed: bool
    reason: str
    event_id: int | None = None

    def __bool__(self) -> bool:
        return self.allowed


@functools.cache
def load_methods(path: Path = RULES_FILE) -> dict[str, ConsentMethod]:
    """Read and validate the consent methods file."""
    path = Path(path)
    data = read_toml(path, ConsentRefused)
    methods = data.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise ConsentRefused(f"{path}: key 'methods' must be a table of [methods.<name>]")
    result = {}
    for name, entry in methods.items():
        where = f"{path}: key 'methods.{name}'"
        if not isinstance(entry, dict) or not isinstance(entry.get("valid"), bool):
            raise ConsentRefused(f"{where}: needs 'valid = true' or 'valid = false'")
        label, reason = entry.get("label"), entry.get("reason", "")
        if not isinstance(label, str) or not label.strip():
            raise ConsentRefused(f"{where}: needs a 'label'")
        if not entry["valid"] and (not isinstance(reason, str) or not reason.strip()):
            raise ConsentRefused(f"{where}: an invalid method needs a 'reason' with the article")
        result[name] = ConsentMethod(name, entry["valid"], label.strip(), " ".join(reason.split()))
    return result


def valid_methods() -> tuple[str, ...]:
    """Names of the methods by which a grant is valid consent."""
    return tuple(sorted(name for name, method in load_methods().items() if method.valid))


def decide(events: list[ConsentEvent], purpose: str, at: str, known_versions: set[str],
           customer_id: int) -> ConsentDecision:
    """Derive the decision at ``at`` from one customer's events for one purpose (any order)."""
    methods = load_methods()
    counted: ConsentEvent | None = None
    rejected: list[tuple[ConsentEvent, str]] = []
    later: ConsentEvent | None = None
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        if event.purpose != purpose:
            continue
        if event.at > at:
            later = later or event
            continue
        if event.event == "withdrawn":
            counted = event
            continue
        method = methods.get(event.method)
        if method is None or not method.valid:
            why = method.reason if method else f"'{event.method}' is not a known way of consenting"
            rejected.append((event, why))
        elif event.text_version not in known_versions:
            rejected.append((event, (
                f"the consent text '{event.text_version}' is not on record, so the shop cannot "
                "show what the customer agreed to (art. 7(1); EDPB Guidelines 05/2020 para 104)")))
        else:
            counted = event
    who = f"customer {customer_id}"
    if counted is not None and counted.event == "granted":
        return ConsentDecision(True, (
            f"{who} consented to {purpose} on {counted.at[:10]} by "
            f"{methods[counted.method].label} (text {counted.text_version}): art. 6(1)(a), 7"
        ), counted.id)
    if counted is not None:
        return ConsentDecision(False, (
            f"{who} withdrew consent for {purpose} on {counted.at[:10]}: processing must stop "
            "from then on (art. 7(3))"), counted.id)
    if rejected:
        event, why = rejected[-1]
        return ConsentDecision(False, (
            f"{who} has no valid consent for {purpose}: the grant of {event.at[:10]} "
            f"does not count because {why}"), event.id)
    if later is not None:
        return ConsentDecision(False, (
            f"{who} had not consented to {purpose} on {at[:10]}: the {later.event} event of "
            f"{later.at[:10]} comes later and does not count before it happens (art. 6(1)(a))"),
            later.id)
    return ConsentDecision(False, (
        f"{who} never consented to {purpose}: consent is given per purpose, and a "
        "consent for another purpose does not count (art. 6(1)(a); recital 43)"))


class ConsentLedger:
    """``cms.consent``: record consent events and derive what is allowed at a moment."""

    def __init__(self, sandbox: SandboxHost) -> None:
        self._cms = sandbox

    # -- recording ----------------------------------------------------------------------

    def record(
        self,
        customer_id: int,
        purpose: str,
        event: str,
        text_version: str,
        method: str,
        channel: str,
        at: Moment | None = None,
    ) -> int:
        """Append one consent event; return its id. Refuses anything it cannot vouch for."""
        moment = to_iso(at) if at is not None else self._now()
        self._consent_purpose(purpose)
        if event not in EVENTS:
            raise ConsentRefused(f"event must be 'granted' or 'withdrawn', not {event!r}")
        methods = load_methods()
        if method not in methods:
            raise ConsentRefused(
                f"unknown consent method {method!r} (known: {', '.join(sorted(methods))})")
        if not isinstance(channel, str) or not channel.strip():
            raise ConsentRefused("channel must name where the event happened, e.g. 'checkout'")
        if moment > self._now():
            raise ConsentRefused(
                f"{moment} lies after the sandbox clock ({self._now()}): an event cannot be "
                "recorded before it happens")
        with self._cms._internal(PURPOSE, "consent") as p:
            self._require_customer(p, customer_id)
            versions = self._versions(p, purpose)
            if text_version not in versions:
                known = ", ".join(sorted(versions)) or "none"
                raise ConsentRefused(
                    f"unknown consent text {text_version!r} for {purpose} (known: {known}); the "
                    "exact text shown must be on record (art. 7(1))")
            return ProcessingDb(p).insert("consent_events", {
                "customer_id": customer_id, "purpose": purpose, "event": event, "at": moment,
                "text_version": text_version, "method": method, "channel": channel.strip(),
                "provenance_id": 1,
            }, about=[customer_id])

    # -- reading ------------------------------------------------------------------------

    def events(self, customer_id: int, purpose: str | None = None) -> list[ConsentEvent]:
        """The customer's events in the order they happened (optionally for one purpose)."""
        with self._cms._internal(PURPOSE, "consent") as p:
            self._require_customer(p, customer_id)
            return self._events(p, customer_id, purpose)

    def may(self, customer_id: int, purpose: str, at: Moment | None = None) -> ConsentDecision:
        """May this customer be processed for ``purpose`` at ``at`` (default: now)?"""
        moment = to_iso(at) if at is not None else self._now()
        info = self._purpose(purpose)
        with self._cms._internal(PURPOSE, "consent") as p:
            self._require_customer(p, customer_id)
            if info.legal_ground != CONSENT_GROUND:
                return ConsentDecision(True, (
                    f"{purpose} does not rest on consent but on art. {info.article}: "
                    "no consent is needed (and asking for one would mislead, art. 7(3))"))
            events = self._events(p, customer_id, purpose)
            return decide(events, purpose, moment, self._versions(p, purpose), customer_id)

    def allowed_customers(self, purpose: str, at: Moment | None = None) -> set[int]:
        """Ids of every customer with valid, unwithdrawn consent for ``purpose`` at ``at``.

        One SQL pass over the ledger: the latest counting event (a withdrawal, or a grant by a
        valid method with a known text) per customer decides.
        """
        moment = to_iso(at) if at is not None else self._now()
        self._consent_purpose(purpose)
        valid = valid_methods()
        marks = ", ".join("?" * len(valid))
        sql = f"""
            SELECT customer_id FROM (
                SELECT e.customer_id, e.event,
                       ROW_NUMBER() OVER (PARTITION BY e.customer_id
                                          ORDER BY e.at DESC, e.id DESC) AS rank
                FROM consent_events AS e
                WHERE e.purpose = ? AND e.at <= ?
                  AND e.customer_id IN (SELECT id FROM customers)
                  AND (e.event = 'withdrawn'
                       OR (e.method IN ({marks})
                           AND e.text_version IN (SELECT version FROM consent_texts
                                                  WHERE purpose = ?)))
            ) WHERE rank = 1 AND event = 'granted'"""
        with self._cms._internal(PURPOSE, "consent") as p:
            rows = p.query(sql, (purpose, moment, *valid, purpose))
        return {row["customer_id"] for row in rows}

    # -- helpers ------------------------------------------------------------------------

    def _now(self) -> str:
        return to_iso(self._cms.clock.now())

    def _purpose(self, purpose: str) -> Any:
        return self._cms.register.purpose(purpose)  # UnknownPurpose lists the known ones

    def _consent_purpose(self, purpose: str) -> Any:
        info = self._purpose(purpose)
        if info.legal_ground != CONSENT_GROUND:
            raise ConsentRefused(
                f"{purpose} rests on art. {info.article}, not on consent: recording a "
                "consent for it would suggest the customer can refuse what the shop does anyway "
                "(EDPB Guidelines 05/2020 para 121)")
        return info

    @staticmethod
    def _require_customer(p: Any, customer_id: int) -> None:
        too_large = isinstance(customer_id, int) and not -(2**63) <= customer_id < 2**63
        if too_large or not p.query("SELECT id FROM customers WHERE id = ?", (customer_id,)):
            raise UnknownCustomer(f"no customer with id {customer_id}")

    @staticmethod
    def _versions(p: Any, purpose: str) -> set[str]:
        rows = p.query("SELECT version FROM consent_texts WHERE purpose = ?", (purpose,))
        return {row["version"] for row in rows}

    @staticmethod
    def _events(p: Any, customer_id: int, purpose: str | None) -> list[ConsentEvent]:
        sql = f"SELECT {EVENT_COLUMNS} FROM consent_events WHERE customer_id = ?"
        params: tuple = (customer_id,)
        if purpose is not None:
            sql += " AND purpose = ?"
            params += (purpose,)
        rows = p.query(sql + " ORDER BY at, id", params)
        return [ConsentEvent(**row) for row in rows]
