"""Where personal data is kept, whether each transfer out of the EEA is lawful, and backups.

The locations (primary database, backups, processors, recipients) come from
``datasets/policy/locations.toml``; the EEA and the adequacy decisions (art. 45) from the dated
reference list ``datasets/reference/adequacy.toml``. Both are read and validated here, with
errors that name the file and the key.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import LocationError
from sandbox_cms.privacy.backup import (
    BackupManifest,
    RestoredBackup,
    backup_database,
    restore_database,
)
from sandbox_cms.privacy.host import SandboxHost

LOCATIONS_FILE = DATASETS / "policy" / "locations.toml"
ADEQUACY_FILE = DATASETS / "reference" / "adequacy.toml"

KINDS = ("primary", "backup", "processor", "recipient")
# transfer_mechanism value -> what it is (article).
MECHANISMS = {
    "none": "no transfer mechanism (only lawful inside the EEA)",
    "adequacy": "an adequacy decision (art. 45)",
    "adequacy:dpf": "the EU-US Data Privacy Framework adequacy decision (art. 45; (EU) 2023/1795)",
    "scc": "standard contractual clauses (art. 46(2)(c); Decision (EU) 2021/914)",
    "bcr": "binding corporate rules (art. 46(2)(b), art. 47)",
    "consent_49_1_a": "explicit consent after being informed of the risks (art. 49(1)(a))",
    "contract_49_1_b": "a transfer necessary for the contract (art. 49(1)(b))",
}
DEROGATIONS = ("consent_49_1_a", "contract_49_1_b")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Location:
    """One place where personal data is kept or sent."""

    name: str
    kind: str
    country: str
    region: str
    categories: tuple[str, ...]
    transfer_mechanism: str
    description: str = ""
    pattern: str | None = None
    """'systematic' or 'occasional' (recital 111); None: a recipient is occasional, every
    other kind systematic. The role (processor or controller) is the kind; the pattern, not
    the role, decides whether a derogation (art. 49) can fit."""


@dataclass(frozen=True)
class Adequacy:
    """The EEA and the adequacy decisions, with the date the list was checked."""

    eea: frozenset[str]
    decisions: dict[str, dict[str, Any]]  # country -> {name, decision, condition?, verified}
    retrieved: dt.date
    source: str
    no_decision: frozenset[str] = frozenset()  # checked: no adequacy decision

    @property
    def unverified(self) -> frozenset[str]:
        """Countries whose listed decision is not verified: nothing may be asserted on them."""
        return frozenset(c for c, e in self.decisions.items() if e.get("verified") is not True)


@dataclass(frozen=True)
class TransferCheck:
    """The verdict on one location outside the EEA."""

    location: str
    kind: str
    country: str
    mechanism: str
    lawful: bool
    reason: str


def load_locations(path: str | Path = LOCATIONS_FILE) -> list[Location]:
    """Read and validate a locations file."""
    path = Path(path)
    data = _read_toml(path)
    entries = data.get("locations")
    if not isinstance(entries, list) or not entries:
        raise LocationError(f"{path}: key 'locations' must be a non-empty list of [[locations]]")
    result: list[Location] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: locations #{number}"
        if not isinstance(entry, dict):
            raise LocationError(f"{where} must be a table")
        strings = {}
        for key in ("name", "kind", "country", "region", "transfer_mechanism"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise LocationError(f"{where}: key '{key}' must be a non-empty string")
            strings[key] = value.strip()
        name = strings["name"]
        where = f"{path}: locations '{name}'"
        if name in seen:
            raise LocationError(f"{where}: the name is used twice")
        seen.add(name)
        if strings["kind"] not in KINDS:
            raise LocationError(f"{where}: key 'kind' must be one of {', '.join(KINDS)}")
        if not _COUNTRY.match(strings["country"]):
            raise LocationError(f"{where}: key 'country' must be a two-letter code such as NL")
        if strings["transfer_mechanism"] not in MECHANISMS:
            raise LocationError(
                f"{where}: key 'transfer_mechanism' must be one of {', '.join(MECHANISMS)}"
            )
        categories = entry.get("categories")
        if (not isinstance(categories, list) or not categories
                or not all(isinstance(c, str) and c for c in categories)):
            raise LocationError(f"{where}: key 'categories' must be a non-empty list of strings")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise LocationError(f"{where}: key 'description' must be a string")
        result.append(Location(categories=tuple(categories), description=description.strip(),
                               **strings))
    return result


@functools.cache
def load_adequacy(path: Path = ADEQUACY_FILE) -> Adequacy:
    """Read and validate the dated list of EEA states and adequacy decisions."""
    path = Path(path)
    data = _read_toml(path)
    source, retrieved = data.get("source"), data.get("retrieved")
    if not isinstance(source, str) or not source.strip():
        raise LocationError(f"{path}: key 'source' must say where the list comes from")
    if not isinstance(retrieved, dt.date):
        raise LocationError(f"{path}: key 'retrieved' must be a date (YYYY-MM-DD)")
    eea = data.get("eea")
    if not isinstance(eea, list) or not all(isinstance(c, str) and _COUNTRY.match(c) for c in eea):
        raise LocationError(f"{path}: key 'eea' must be a list of two-letter country codes")
    decisions = data.get("adequacy")
    if not isinstance(decisions, dict):
        raise LocationError(f"{path}: key 'adequacy' must be a table of country = {{...}}")
    for country, entry in decisions.items():
        where = f"{path}: key 'adequacy.{country}'"
        if not _COUNTRY.match(country):
            raise LocationError(f"{where}: must be a two-letter country code")
        if (not isinstance(entry, dict) or not isinstance(entry.get("name"), str)
                or not isinstance(entry.get("decision"), str)):
            raise LocationError(f"{where}: must have a 'name' and a 'decision'")
        if entry.get("condition") is not None and entry["condition"] not in MECHANISMS:
            raise LocationError(f"{where}: 'condition' must be a transfer mechanism")
        if country in eea:
            raise LocationError(f"{where}: {country} is in the EEA, it needs no adequacy decision")
        if not isinstance(entry.get("verified", False), bool):
            raise LocationError(f"{where}: 'verified' must be true or false")
    none = data.get("no_decision", {"countries": []})
    if (not isinstance(none, dict) or not isinstance(none.get("countries"), list)
            or not all(isinstance(c, str) and _COUNTRY.match(c) for c in none["countries"])):
        raise LocationError(f"{path}: key 'no_decision.countries' must be a list of country codes")
    clash = set(none["countries"]) & (set(decisions) | set(eea))
    if clash:
        raise LocationError(f"{path}: key 'no_decision' lists {sorted(clash)}, which have a "
                            "decision or are in the EEA")
    no_decision = frozenset(none["countries"]) if none.get("verified", False) is True else (
        frozenset())
    return Adequacy(frozenset(eea), dict(decisions), retrieved, source.strip(), no_decision)


CHECK_TRANSFER_CALLS = [0]
"""How often check_transfer ran: exercise 02-transfer-plan sees whether the learner called it."""


def check_transfer(location: Location, adequacy: Adequacy) -> TransferCheck | None:
    """The verdict on one location, or None when it is inside the EEA (no transfer)."""
    CHECK_TRANSFER_CALLS[0] += 1
    country, mechanism = location.country, location.transfer_mechanism
    if country in adequacy.eea:
        return None
    decision = adequacy.decisions.get(country)
    as_of = f"adequacy list of {adequacy.retrieved.isoformat()}"

    def verdict(lawful: bool, reason: str) -> TransferCheck:
        return TransferCheck(location.name, location.kind, country, mechanism, lawful, reason)

    if mechanism == "none":
        return verdict(False, (
            f"{country} is outside the EEA and no transfer mechanism is named: a transfer needs "
            "an adequacy decision (art. 45), appropriate safeguards such as SCCs (art. 46) or, "
            "occasionally, a derogation (art. 49); art. 44"))
    if mechanism in ("adequacy", "adequacy:dpf"):
        if decision is not None and decision.get("verified") is not True:
            return verdict(False, (
                f"an adequacy decision for {country} is reported but not verified ({as_of}): "
                "check it on EUR-Lex before relying on it; until then use SCCs (art. 46)"))
        if decision is None:
            return verdict(False, (
                f"there is no adequacy decision for {country} ({as_of}): use SCCs (art. 46) "
                "or another mechanism of Chapter V; art. 44, 45"))
        condition = decision.get("condition")
        if condition and condition != mechanism:
            return verdict(False, (
                f"the adequacy decision for {country} covers only {decision['name']} "
                f"({decision['decision']}); name '{condition}' if the recipient qualifies, "
                "otherwise use SCCs (art. 46); art. 45"))
        if not condition and mechanism != "adequacy":
            return verdict(False, f"'{mechanism}' does not apply to {country}; use 'adequacy'")
        return verdict(True, (
            f"adequacy decision for {decision['name']}: {decision['decision']} "
            f"({as_of}); art. 45"))
    if mechanism in DEROGATIONS:
        pattern = location.pattern or ("occasional" if location.kind == "recipient"
                                       else "systematic")
        if pattern != "occasional":
            return verdict(False, (
                f"{MECHANISMS[mechanism]} is a derogation for occasional transfers, not for a "
                f"{location.kind} that receives data systematically (art. 49, recital 111; EDPB "
                "Guidelines 2/2018): use an adequacy decision or SCCs"))
        return verdict(True, (
            f"{MECHANISMS[mechanism]}: lawful only for occasional transfers, each one covered "
            "(recital 111)"))
    return verdict(True, (
        f"{MECHANISMS[mechanism]}; since Schrems II (C-311/18) with an assessment of the "
        "law of the destination country"))


def check_transfers(locations: list[Location],
                    adequacy: Adequacy | None = None) -> list[TransferCheck]:
    """One verdict per location outside the EEA, in the order given."""
    adequacy = adequacy or load_adequacy()
    checks = (check_transfer(location, adequacy) for location in locations)
    return [check for check in checks if check is not None]


class Storage:
    """``cms.storage``: the locations of a sandbox, its transfers, backup and restore."""

    def __init__(self, sandbox: SandboxHost) -> None:
        self._cms = sandbox

    def locations(self) -> list[Location]:
        """The locations registered in the sandbox (table ``storage_locations``)."""
        rows = self._cms.connection.execute(
            "SELECT name, kind, country, region, categories, transfer_mechanism "
            "FROM storage_locations ORDER BY rowid"
        ).fetchall()
        locations = []
        for name, kind, country, region, categories, mechanism in rows:
            try:
                names = json.loads(categories)
            except (TypeError, ValueError):
                names = None
            if not isinstance(names, list):
                raise LocationError(
                    f"storage location {name!r} in this sandbox has no readable list of"
                    " categories (changed behind the CMS's back?); restore a backup"
                )
            locations.append(Location(name, kind, country, region or "", tuple(names), mechanism))
        return locations

    def check_transfers(self) -> list[TransferCheck]:
        """The verdict on every registered location outside the EEA."""
        return check_transfers(self.locations())

    def backup(self, dest_dir: str | Path, location: str | None = None) -> BackupManifest:
        """Copy the sandbox into ``dest_dir``; ``location`` names a registered backup location."""
        country = None
        if location is not None:
            backups = {loc.name: loc for loc in self.locations() if loc.kind == "backup"}
            if location not in backups:
                known = ", ".join(sorted(backups)) or "none registered"
                raise LocationError(f"unknown backup location {location!r} (known: {known})")
            country = backups[location].country
        manifest = backup_database(
            self._cms.path, dest_dir, created_at=self._cms.clock.now().isoformat(),
            location=location, country=country,
        )
        self._cms.audit.append(
            actor="storage", purpose=None, action="backup", table=None, columns=[], row_ids=[],
            detail={"file": manifest.file, "sha256": manifest.sha256, "location": location,
                    "country": country},
        )
        return manifest

    def restore(self, backup_file: str | Path) -> BackupManifest:
        """Replace this sandbox's database with a verified backup (see ``restore_database``);
        customers erased after the backup was made are erased again (the erasure ledger), and
        the result names them (``RestoredBackup.reerased``)."""
        return restore_into(self._cms, backup_file)


def restore_into(sandbox: SandboxHost, backup_file: str | Path) -> BackupManifest:
    """Restore ``backup_file`` over an open sandbox, reconnect it, and log the restore."""
    closed = False

    def close() -> None:
        nonlocal closed
        sandbox.close()
        closed = True

    try:
        manifest = restore_database(backup_file, sandbox.path, before_replace=close)
    finally:
        if closed:  # reconnect to the restored file (or, had the rename failed, the old one)
            sandbox.reopen()
    sandbox.audit.append(
        actor="storage", purpose=None, action="restore", table=None, columns=[], row_ids=[],
        detail={"file": manifest.file, "sha256": manifest.sha256},
    )
    # The erasure ledger beside the database survived the restore: erase again whoever
    # the backup brought back (art. 17; privacy.dsr.DataSubjectRequests.reapply_erasures).
    again = sandbox.dsr.reapply_erasures()
    return RestoredBackup(**asdict(manifest), reerased=tuple(r.customer_id for r in again),
                          requests=tuple(r.request_id for r in again if r.request_id))


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, LocationError)
