"""``sandbox-cms register``, ``audit verify|show``, ``clock show|set|advance`` and ``query``."""

from __future__ import annotations

import json
import sqlite3
import sys

import click

from sandbox_cms.cms import open_sandbox
from sandbox_cms.privacy.access import INTERNAL_ACTORS
from sandbox_cms.privacy.audit import Entry
from sandbox_cms.privacy.policy import Purpose, default_register

DB_OPTION = click.option("--db", "db_path", type=click.Path(dir_okay=False), required=True,
                         help="The sandbox database file.")


# -- register -----------------------------------------------------------------------------

@click.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="Show the register stored in this sandbox (default: the shipped one).")
@click.option("--purpose", default=None, help="Show one purpose with all its columns.")
def register(db_path: str | None, purpose: str | None) -> None:
    """Print the processing register (art. 30): purposes, legal grounds, columns."""
    if db_path:
        with open_sandbox(db_path) as cms:
            reg = cms.register
    else:
        reg = default_register()
    if purpose is not None:
        _show_purpose(reg.purpose(purpose))
        return
    for p in reg.purposes.values():
        tables = sorted({c.partition(".")[0] for c in p.columns})
        kind = " (internal)" if p.internal else ""
        click.echo(f"{p.name:<24} {p.legal_ground:<21} art. {p.article}{kind}")
        click.echo(f"{'':<24} {p.title}; tables: {', '.join(tables)};"
                   f" retention: {p.retention or '-'}")


def _show_purpose(p: Purpose) -> None:
    click.echo(f"{p.name}: {p.title}")
    click.echo(f"  legal ground: {p.legal_ground} (art. {p.article})")
    click.echo(f"  retention:    {p.retention or '-'}")
    click.echo(f"  {p.description}")
    by_table: dict[str, list[str]] = {}
    for column in sorted(p.columns):
        table, _, name = column.partition(".")
        by_table.setdefault(table, []).append(name)
    for table, names in by_table.items():
        click.echo(f"  {table}: {', '.join(names)}")


# -- audit --------------------------------------------------------------------------------

@click.group()
def audit() -> None:
    """Check and read the hash-chained audit log."""


@audit.command("verify")
@DB_OPTION
def audit_verify(db_path: str) -> None:
    """Exit 0 if the audit log is intact, 1 naming the first broken entry."""
    with open_sandbox(db_path) as cms:
        result = cms.audit.verify()
    if result.ok:
        click.echo(result.message)
    else:
        click.echo(result.message, err=True)
        sys.exit(1)


@audit.command("show")
@DB_OPTION
@click.option("--purpose", default=None, help="Only entries of this purpose.")
@click.option("--customer", type=int, default=None, help="Only entries about this customer id.")
@click.option("--action", default=None,
              help="Only this action (read, refused, violation, send_mailing, share, ...).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Show at most this many entries (the newest).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit_show(db_path: str, purpose: str | None, customer: int | None, action: str | None,
               limit: int | None, as_json: bool) -> None:
    """Print the audit log as a table (ids and column names only, never values)."""
    with open_sandbox(db_path) as cms:
        found = cms.audit.entries(purpose=purpose, customer_id=customer, action=action,
                                  limit=limit, newest_first=limit is not None)
    found.sort(key=lambda e: e.seq)
    if as_json:
        for e in found:
            click.echo(json.dumps(_as_dict(e), ensure_ascii=False))
        return
    if not found:
        click.echo("no matching entries")
        return
    click.echo(f"{'seq':>5}  {'at':<19}  {'actor':<9} {'purpose':<22} {'action':<12} "
               f"{'customers':<14} columns")
    for e in found:
        click.echo(f"{e.seq:>5}  {e.at:<19}  {e.actor:<9} {e.purpose or '-':<22} "
                   f"{e.action:<12} {_ids(e.row_ids):<14} {', '.join(e.columns)}")


def _ids(ids: tuple[int, ...]) -> str:
    if not ids:
        return "-"
    if len(ids) <= 2:
        return ",".join(map(str, ids))
    return f"{len(ids)} ({ids[0]},…)"


def _as_dict(e: Entry) -> dict:
    return {"seq": e.seq, "at": e.at, "actor": e.actor, "purpose": e.purpose,
            "action": e.action, "table": e.table, "columns": list(e.columns),
            "row_ids": list(e.row_ids), "detail": e.detail, "hash": e.hash}


# -- clock --------------------------------------------------------------------------------

@click.group()
def clock() -> None:
    """Show or move the sandbox's simulated clock (it only moves forward)."""


@clock.command("show")
@DB_OPTION
def clock_show(db_path: str) -> None:
    """Print the sandbox's current time."""
    with open_sandbox(db_path) as cms:
        click.echo(cms.clock.now().isoformat(" "))


@clock.command("set")
@DB_OPTION
@click.argument("when")
def clock_set(db_path: str, when: str) -> None:
    """Move the clock to WHEN (e.g. 2031-01-01 or 2031-01-01T09:00)."""
    with open_sandbox(db_path) as cms:
        click.echo(cms.clock.set(when).isoformat(" "))


@clock.command("advance")
@DB_OPTION
@click.option("--days", type=float, default=0, help="Days to move forward.")
@click.option("--hours", type=float, default=0, help="Hours to move forward.")
def clock_advance(db_path: str, days: float, hours: float) -> None:
    """Move the clock forward by --days and/or --hours."""
    with open_sandbox(db_path) as cms:
        click.echo(cms.clock.advance(days=days, hours=hours).isoformat(" "))


# -- query --------------------------------------------------------------------------------

@click.command()
@DB_OPTION
@click.option("--purpose", default=None,
              help="The purpose to read for (see `sandbox-cms register`); none: non-personal only.")
@click.option("--mode", type=click.Choice(["enforce", "record"]), default="enforce",
              show_default=True, help="Refuse columns outside the purpose, or run and log them.")
@click.option("--actor", default="cli", show_default=True,
              help="Who runs it, for the audit log (not one of the CMS's own mechanisms).")
@click.argument("sql")
def query(db_path: str, purpose: str | None, mode: str, actor: str, sql: str) -> None:
    """Run SQL inside a purpose and print the rows as JSON lines (the read is audited).

    The CMS's internal purposes (requests, retention, consent records) and its mechanisms'
    names as actor are refused: they run only through `sandbox-cms dsr|retention|consent`."""
    register = default_register()
    if actor.strip().lower() in INTERNAL_ACTORS:
        raise click.ClickException(
            f"--actor {actor!r} is one of the CMS's own mechanisms; a query may not pass as"
            " the sandbox (purpose limitation, art. 5(1)(b)). Name yourself, e.g. --actor cli")
    if purpose in register.purposes and register.purposes[purpose].internal:
        raise click.ClickException(
            f"--purpose {purpose!r} is internal to the CMS: only its own mechanisms run it"
            " (`sandbox-cms dsr`, `retention`, `consent`); declare the purpose your query"
            " serves (purpose limitation, art. 5(1)(b)); see `sandbox-cms register`")
    with open_sandbox(db_path, mode=mode) as cms:
        try:
            if purpose is None:
                rows = cms.query(sql)
            else:
                with cms.processing(purpose, actor=actor) as p:
                    rows = p.query(sql)
        except sqlite3.Error as exc:
            raise click.ClickException(f"the database refused the SQL: {exc}") from None
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False, default=_jsonable))



def _jsonable(value: object) -> str:
    """JSON for what SQLite can hold but JSON cannot: a BLOB as hex (``"x'00ff'"``)."""
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


COMMANDS: list[click.Command] = [register, audit, clock, query]
