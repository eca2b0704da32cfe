"""``sandbox-cms dsr|retention|consent|backup|restore|locations``: requests, schedule, storage.

Each command opens the sandbox, calls the same method a Python user would (``cms.dsr``,
``cms.retention``, ``cms.consent``, ``cms.storage``) and prints the result.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import click

from sandbox_cms.cms import Sandbox, open_sandbox
from sandbox_cms.core.errors import NotASandbox
from sandbox_cms.privacy.backup import keep_aside, restore_database, verify_backup
from sandbox_cms.privacy.erasure import ledger_path

_db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False), required=True,
    help="The sandbox database (built with `sandbox-cms seed`).",
)


@contextlib.contextmanager
def _opened(db_path: str) -> Iterator[Sandbox]:
    cms = open_sandbox(db_path)
    try:
        yield cms
    finally:
        cms.close()


# -- data-subject requests ------------------------------------------------------------------


@click.group(short_help="Data-subject requests: export and erasure by e-mail address.")
def dsr() -> None:
    """Data-subject requests: access (art. 15) and erasure (art. 17)."""


@dsr.command("export", short_help="Export all data about one customer as JSON.")
@_db_option
@click.option("--email", required=True, help="E-mail address of the customer.")
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="Write the JSON to this file instead of standard output.")
def dsr_export(db_path: str, email: str, out: str | None) -> None:
    """Export everything the sandbox holds about one customer, as JSON (art. 15, 20)."""
    with _opened(db_path) as cms:
        data = cms.dsr.export(email)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_jsonable) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"wrote the export to {out}", err=True)


@dsr.command("erase", short_help="Erase one customer; print removed and retained items.")
@_db_option
@click.option("--email", required=True, help="E-mail address of the customer.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def dsr_erase(db_path: str, email: str, as_json: bool) -> None:
    """Erase one customer; print what was removed and what was retained, and why (art. 17)."""
    with _opened(db_path) as cms:
        report = cms.dsr.erase(email)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)


# -- retention ------------------------------------------------------------------------------


@click.group(short_help="The retention schedule: list what is due, carry it out.")
def retention() -> None:
    """The retention schedule: what is due for deletion, and carrying it out (art. 5(1)(e))."""


@retention.command("due")
@_db_option
@click.option("--at", "at", help="Look at this date (YYYY-MM-DD[THH:MM]); default: the clock.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show at most this many rows (0: all); the counts cover everything.")
def retention_due(db_path: str, at: str | None, limit: int) -> None:
    """List the rows whose retention period has run out, with the rule and the reason."""
    with _opened(db_path) as cms:
        items = cms.retention.due(at=at)
        rules = {rule.name: rule for rule in cms.retention.rules()}
    counts: dict[str, int] = {}
    for item in items:
        counts[item.rule] = counts.get(item.rule, 0) + 1
    click.echo(f"{len(items)} row(s) due")
    for name, count in counts.items():
        rule = rules[name]
        click.echo(f"  {name}: {count} ({rule.action} {rule.period_text()})")
    for item in items[:limit] if limit else items:
        click.echo(f"{item.due[:10]}  {item.action:<9} {item.table} #{item.row_id}  "
                   f"({item.rule}: {item.runs_from.replace('_', ' ')} {item.since[:10]})")
    shown = min(limit, len(items)) if limit else len(items)
    if shown < len(items):
        click.echo(f"... {len(items) - shown} more (use --limit 0 to see all)")


@retention.command("apply")
@_db_option
@click.option("--at", "at", help="First move the clock forward to this date (YYYY-MM-DD).")
def retention_apply(db_path: str, at: str | None) -> None:
    """Delete or erase everything due at the clock's time; print what was done."""
    with _opened(db_path) as cms:
        if at is not None:
            cms.clock.set(at)
        report = cms.retention.apply()
    click.echo(f"retention applied at {report.at}: {len(report.done)} row(s)")
    for name, count in report.counts().items():
        click.echo(f"  {name}: {count}")
    if report.erasure is not None:
        click.echo(f"  invoices kept for the tax duty: {len(report.erasure.retained)}")


# -- consent --------------------------------------------------------------------------------


@click.group(short_help="The consent ledger: events, and may we process this customer?")
def consent() -> None:
    """The consent ledger: events per customer, and whether processing is allowed."""


@consent.command("events")
@_db_option
@click.option("--customer", "customer_id", type=int, required=True, help="Customer id.")
def consent_events(db_path: str, customer_id: int) -> None:
    """List a customer's consent events, oldest first."""
    with _opened(db_path) as cms:
        events = cms.consent.events(customer_id)
    if not events:
        click.echo(f"customer {customer_id} has no consent events")
    for e in events:
        click.echo(f"#{e.id}  {e.at}  {e.purpose:<20} {e.event:<9} {e.method} via {e.channel} "
                   f"(text {e.text_version})")


@consent.command("may")
@_db_option
@click.option("--customer", "customer_id", type=int, required=True, help="Customer id.")
@click.option("--purpose", required=True, help="Purpose from the register, e.g. newsletter.")
@click.option("--at", "at", help="At this moment (YYYY-MM-DD[THH:MM]); default: the clock.")
def consent_may(db_path: str, customer_id: int, purpose: str, at: str | None) -> None:
    """Say whether a customer may be processed for a purpose, and why (exit 1 if not)."""
    with _opened(db_path) as cms:
        decision = cms.consent.may(customer_id, purpose, at=at)
    click.echo(("allowed: " if decision.allowed else "not allowed: ") + decision.reason)
    if not decision.allowed:
        raise SystemExit(1)


# -- storage --------------------------------------------------------------------------------


@click.command(short_help="Back up the sandbox with a SHA-256 manifest.")
@_db_option
@click.option("--to", "dest", type=click.Path(file_okay=False), required=True,
              help="Folder to write the backup and its manifest into.")
@click.option("--location", help="Name of a backup location from `sandbox-cms locations`.")
def backup(db_path: str, dest: str, location: str | None) -> None:
    """Copy the sandbox to a folder, with a manifest holding its SHA-256 (art. 32(1)(c))."""
    with _opened(db_path) as cms:
        manifest = cms.storage.backup(dest, location=location)
    click.echo(f"backup {Path(dest) / manifest.file} ({manifest.size:,} bytes, "
               f"sha256 {manifest.sha256[:16]}...)")


@click.command(short_help="Restore the sandbox from a verified backup.")
@_db_option
@click.option("--from", "source", type=click.Path(dir_okay=False), required=True,
              help="The backup file (its .manifest.json must lie next to it).")
@click.option("--check", is_flag=True, help="Only verify the backup; change nothing.")
def restore(db_path: str, source: str, check: bool) -> None:
    """Replace the sandbox with a verified backup (checksum + integrity check), atomically."""
    if check:
        manifest = verify_backup(source)
        click.echo(f"{source}: intact (sha256 {manifest.sha256[:16]}..., made "
                   f"{manifest.created_at})")
        return
    try:
        cms = open_sandbox(db_path)
    except NotASandbox:  # missing or damaged: restore over it, keeping a copy of what was there
        verify_backup(source)  # refuse a bad backup before copying anything
        kept = keep_aside(db_path)
        manifest = restore_database(source, db_path)
        if kept is not None:
            click.echo(f"{db_path} was not a working sandbox; it is kept as {kept}")
        with _opened(db_path) as cms:  # the erasure ledger beside it still applies
            again = cms.dsr.reapply_erasures()
        reerased = tuple(r.customer_id for r in again)
        requests = tuple(r.request_id for r in again if r.request_id)
    else:
        try:
            manifest = cms.storage.restore(source)
        finally:
            cms.close()
        reerased, requests = manifest.reerased, manifest.requests
    click.echo(f"restored {db_path} from {source} (made {manifest.created_at})")
    if reerased:
        click.echo(
            f"re-erased {len(reerased)} customer(s) the backup still held, erased after it "
            f"was made (erasure ledger {ledger_path(db_path).name}): customer ids "
            f"{', '.join(map(str, reerased))}"
            + (f"; erasure requests {', '.join(map(str, requests))} are on record again"
               if requests else ""))


@click.command(short_help="Where personal data is kept; transfers outside the EEA.")
@_db_option
def locations(db_path: str) -> None:
    """List where personal data is kept and check every transfer outside the EEA."""
    with _opened(db_path) as cms:
        places = cms.storage.locations()
        checks = {check.location: check for check in cms.storage.check_transfers()}
    for loc in places:
        click.echo(f"{loc.name:<24} {loc.kind:<10} {loc.country} {loc.region:<18} "
                   f"{', '.join(loc.categories)}")
        check = checks.get(loc.name)
        if check is None:
            click.echo("    inside the EEA: no transfer rules apply")
        else:
            verdict = "lawful" if check.lawful else "NOT LAWFUL"
            click.echo(f"    transfer via {check.mechanism}: {verdict}: {check.reason}")



def _jsonable(value: object) -> str:
    """JSON for what SQLite can hold but JSON cannot: a BLOB as hex (``"x'00ff'"``)."""
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


COMMANDS: list[click.Command] = [dsr, retention, consent, backup, restore, locations]
