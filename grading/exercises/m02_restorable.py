"""Exercise 02-restorable: a backup somewhere else that really restores (art. 32(1)(c)).

The setup replaces the sandbox's backup locations with the variant's set: one in the same
data centre as the primary, one or two outside the EEA without any transfer mechanism, and
an archive inside the EEA registered only for order and invoice data, and one elsewhere
inside the EEA for everything (Frankfurt; in the hidden variant Oslo, EEA but not EU). Each
backup location is "mounted" at a folder. The learner writes
``make_restorable(cms, mounts) -> path of the backup file``: pick a lawful location away
from the primary, back up into its folder with ``cms.storage.backup(folder, location=name)``
and check that the copy restores.

The grader then plays the disaster: it damages a copy of the primary, restores the learner's
backup over it with the sandbox's verified restore, and compares the result with the
primary. It also checks that the file lies in the named location's folder, that the
location's transfer is lawful (Chapter V), that the register lists the location for every
category a full copy holds (art. 30(1)), and that it is not where the primary is.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from grading.checks import PrincipleViolation
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.core.errors import BackupError
from sandbox_cms.privacy.backup import manifest_path, restore_database, verify_backup
from sandbox_cms.privacy.storage import check_transfer, load_adequacy

EXERCISE_ID = "02-restorable"
ALL = ["identity", "contact", "address", "financial", "birth_date", "company",
       "order_history", "invoice", "consent"]
ARCHIVE = ["order_history", "invoice"]  # a bookkeeping archive: no contact data
# Known variants: seed -> backup locations (name, country, region, categories, mechanism).
BACKUPS = {
    None: [("backup-amsterdam", "NL", "Amsterdam", ALL, "none"),
           ("backup-virginia", "US", "Virginia", ALL, "none"),
           ("backup-dublin-archive", "IE", "Dublin", ARCHIVE, "none"),
           ("backup-frankfurt", "DE", "Frankfurt am Main", ALL, "none")],
    4242: [("backup-same-rack", "NL", "Amsterdam", ALL, "none"),
           ("backup-helsinki-archive", "FI", "Helsinki", ARCHIVE, "none"),
           ("backup-oslo", "NO", "Oslo", ALL, "none"),
           ("backup-singapore", "SG", "Singapore", ALL, "none"),
           ("backup-virginia", "US", "Virginia", ALL, "none")],
}
# Any other seed draws its set from these (the hidden seed may be drawn per class).
# (the lawful full copy is in an EEA state outside the EU, so "EU only" fails; never
# Frankfurt, so the visible variant's answer hard-coded fails)
EEA_FULL = {"NO": "Oslo", "IS": "Reykjavik", "LI": "Vaduz"}
EEA_ARCHIVE = {"IE": "Dublin", "FI": "Helsinki", "BE": "Brussels", "DK": "Copenhagen"}
FAR_AWAY = {"US": "Virginia", "SG": "Singapore", "IN": "Mumbai", "AU": "Sydney"}
# Boundary planted in every variant: the primary's country, another region. The rule is
# "not the primary's data centre" (same country AND region), so this one is lawful and
# elsewhere: a learner who rejects every location in the primary's country is too strict
# but still passes with another choice; one who compares only the country is told nothing
# wrong either. Both sides of the rule are present: same rack (fails) and same country,
# other region (passes).
SAME_COUNTRY_ELSEWHERE = ("backup-groningen", "NL", "Groningen", ALL, "none")


def backup_locations(seed: int | None) -> list[tuple[str, str, str, list[str], str]]:
    """The backup locations of one variant: the known set of a seed, or one drawn from it;
    always with one in the primary's data centre, one in its country elsewhere, an archive
    that lacks categories, a lawful full one and one far away without a mechanism."""
    if seed in BACKUPS:
        chosen = list(BACKUPS[seed])
    else:
        rng = random.Random(f"backups-{seed}")
        full, archive, far = (rng.choice(sorted(d)) for d in (EEA_FULL, EEA_ARCHIVE, FAR_AWAY))
        chosen = [("backup-same-rack", "NL", "Amsterdam", ALL, "none"),
                  (f"backup-{EEA_ARCHIVE[archive].lower()}-archive", archive,
                   EEA_ARCHIVE[archive], ARCHIVE, "none"),
                  (f"backup-{EEA_FULL[full].split()[0].lower()}", full, EEA_FULL[full], ALL,
                   "none"),
                  (f"backup-{FAR_AWAY[far].lower()}", far, FAR_AWAY[far], ALL, "none")]
        rng.shuffle(chosen)
    return [*chosen, SAME_COUNTRY_ELSEWHERE]


COMPARED = ("customers", "orders", "order_items", "invoices", "consent_texts", "consent_events",
            "mailings", "mailing_recipients", "disclosures", "dsr_requests", "products",
            "storage_locations")  # every table but the audit log, which the backup itself extends


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    """Register the variant's backup locations and make a folder for each."""
    backups = backup_locations(variant.seed)
    conn = sqlite3.connect(cms.path)
    try:
        with conn:
            conn.execute("DELETE FROM storage_locations WHERE kind = 'backup'")
            conn.executemany(
                "INSERT INTO storage_locations (name, kind, country, region, categories,"
                " transfer_mechanism) VALUES (?, 'backup', ?, ?, ?, ?)",
                [(name, country, region, json.dumps(categories), mechanism)
                 for name, country, region, categories, mechanism in backups])
    finally:
        conn.close()
    root = Path(cms.path).parent / "mounts"
    mounts = {}
    for name, *_ in backups:
        (root / name).mkdir(parents=True, exist_ok=True)
        mounts[name] = str(root / name)
    return {"mounts": mounts}


def arguments(attempt: Attempt) -> list[Any]:
    return [dict(attempt.context["mounts"])]


def _manifest(attempt: Attempt) -> Any:
    """The verified manifest of the learner's backup (cached on the attempt)."""
    if "manifest" not in attempt.context:
        backup = Path(attempt.result)
        if not backup.is_file():
            raise PrincipleViolation(
                "restorability", f"there is no backup file at {backup}")
        if not manifest_path(backup).is_file():
            raise PrincipleViolation(
                "restorability", f"{backup.name} has no manifest ({manifest_path(backup).name})"
                ": nobody can check that the copy is whole, and the sandbox's restore refuses "
                "it; make the backup with cms.storage.backup(folder, location=name)")
        try:
            attempt.context["manifest"] = verify_backup(backup)
        except BackupError as exc:
            raise PrincipleViolation(
                "restorability", f"your backup does not verify ({exc})") from None
    return attempt.context["manifest"]


def backup_is_verified(attempt: Attempt) -> None:
    """The returned file is a backup whose checksum and integrity check pass."""
    _manifest(attempt)


def location_is_named_and_used(attempt: Attempt) -> None:
    """The backup names a registered backup location and lies in that location's folder."""
    manifest = _manifest(attempt)
    mounts = attempt.context["mounts"]
    if manifest.location is None:
        raise PrincipleViolation(
            "task", "the backup names no location: pass location=<name> to "
            "cms.storage.backup so the register shows where the copy is")
    folder = Path(mounts.get(manifest.location, "")).resolve()
    if Path(attempt.result).resolve().parent != folder:
        raise PrincipleViolation(
            "restorability", f"the manifest says {manifest.location}, but the file lies in "
            f"{Path(attempt.result).resolve().parent}, not in that location's folder "
            f"{mounts.get(manifest.location)}; a copy that sits beside the primary is lost "
            "with it")


def location_is_lawful(attempt: Attempt) -> None:
    """The location's transfer is lawful for the categories a full backup holds."""
    location = _location(attempt)
    verdict = check_transfer(location, load_adequacy())
    if verdict is not None and not verdict.lawful:
        raise PrincipleViolation(
            "transfers", "a full backup holds every category of customer data, and this "
            "location may not receive it", [f"{location.name} in {location.country}: "
                                            f"{verdict.reason}"])


def location_holds_its_categories(attempt: Attempt) -> None:
    """A full backup holds every category the primary holds: the location must be
    registered for all of them."""
    location = _location(attempt)
    primary = next(loc for loc in attempt.cms.storage.locations() if loc.kind == "primary")
    missing = [c for c in primary.categories if c not in location.categories]
    if missing:
        raise PrincipleViolation(
            "records", f"{location.name} is registered only for "
            f"{', '.join(location.categories)}, but a full backup holds every category of "
            "the primary; the shop's own register of locations would no longer say where "
            "the customers' data is (accountability practice, art. 5(2) and 24; art. 30(1) "
            "itself asks for recipients and transfers, 30(1)(d)-(e), not a place per "
            "category)",
            [f"category {c}" for c in missing])


def location_is_elsewhere(attempt: Attempt) -> None:
    """The backup is not in the primary's data centre (post 2: an extra backup elsewhere)."""
    location = _location(attempt)
    primary = next(loc for loc in attempt.cms.storage.locations() if loc.kind == "primary")
    if (location.country, location.region) == (primary.country, primary.region):
        raise PrincipleViolation(
            "restorability", f"{location.name} is in {location.region}, where the primary "
            "is: a fire, an outage or the bankruptcy of that host takes both copies; keep the "
            "extra backup elsewhere (good practice under art. 32(1)(c)/(d): the article asks "
            "for the ability to restore in time, chosen by risk, and the source post for "
            "a copy in a second place)")


def restore_works(attempt: Attempt) -> None:
    """Damage a copy of the primary, restore the backup over it, compare with the primary."""
    workdir = Path(attempt.cms.path).parent / "disaster"
    workdir.mkdir(exist_ok=True)
    damaged = workdir / "primary.db"
    shutil.copyfile(attempt.cms.path, damaged)
    with damaged.open("r+b") as fh:  # overwrite the SQLite header: the file is unreadable
        fh.write(b"\0" * 4096)
    try:
        restore_database(attempt.result, damaged)
    except BackupError as exc:
        raise PrincipleViolation(
            "restorability", f"restoring your backup failed ({exc})") from None
    differences = []
    for table in COMPARED:
        now = _count(Path(attempt.cms.path), table)
        restored = _count(damaged, table)
        if now != restored:
            differences.append(f"{table}: {restored} rows restored, {now} in the shop")
    if differences:
        raise PrincipleViolation(
            "restorability", "the restored database is not the shop's current data "
            "(make the backup at the end, of the sandbox itself)", differences)


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608
    finally:
        conn.close()


def _location(attempt: Attempt) -> Any:
    name = _manifest(attempt).location
    for location in attempt.cms.storage.locations():
        if location.name == name:
            return location
    raise PrincipleViolation("task", f"{name!r} is not a registered backup location")


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Make the shop restorable: a verified backup elsewhere, lawfully",
    principles=("restorability", "transfers", "records"),
    task=(
        "make_restorable(cms, mounts) backs the sandbox up with cms.storage.backup into the "
        "folder of one backup location (mounts[name], location=name) that is lawful for a "
        "full copy and not where the primary is, and returns the backup file's path."
    ),
    checks=(backup_is_verified, location_is_named_and_used, location_is_lawful,
            location_holds_its_categories, location_is_elsewhere, restore_works),
    points=4,
    returns=(str, Path),
    visible=Variant(scenario="webshop", seed=None, customers=300),
    hidden=Variant(scenario="webshop", customers=300),
    prepare=prepare,
    arguments=arguments,
))
