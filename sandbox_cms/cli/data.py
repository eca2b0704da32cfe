"""``sandbox-cms import`` and ``sandbox-cms scan``: data coming in, and data that looks real."""

from __future__ import annotations

from collections import Counter

import click

from sandbox_cms.core.errors import ImportRefused, SandboxError
from sandbox_cms.data.importer import import_customers
from sandbox_cms.data.scan import scan_path


@click.command("import", short_help="Import customer records through the guard, all or nothing.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="The sandbox database to import into (built with `sandbox-cms seed`).",
)
def import_(file: str, db_path: str) -> None:
    """Import customer records from FILE into a sandbox, all or nothing.

    FILE is CSV with a header row (first_name,last_name,email,... ), a JSON list of objects,
    or JSON Lines (one object per line), in UTF-8, at most 100 MB. Every record passes the
    guard: e-mail on a reserved example domain (example.com/.net/.org, *.test, *.example,
    *.invalid), an IBAN only with a fictional bank code (XMPL, SYNT), no national ID number
    (BSN) in any field, no real company name. If any record is refused, every refusal is
    listed with its line and NOTHING is written (exit status 1).
    """
    try:
        result = import_customers(db_path, file)
    except ImportRefused as exc:
        for refusal in exc.refusals:
            click.echo(refusal, err=True)
        raise click.ClickException(
            f"{len(exc.refusals)} refusal(s) in {click.format_filename(file)}; "
            "nothing was imported"
        ) from None
    click.echo(
        f"Imported {result.inserted:,} customer(s) from {result.file} "
        f"(sha256 {result.sha256[:12]}…, provenance {result.provenance_id})"
    )


@click.command(short_help="Find real-looking personal data in a CSV, JSON or SQLite file.")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=0,
    help="Show at most this many findings (0: all). The counts always cover everything.",
)
def scan(path: str, limit: int) -> None:
    """List values in PATH that look like real personal data.

    PATH is a CSV, JSON or JSON Lines file, or a SQLite database (such as a sandbox). Reported:
    e-mail on a non-reserved domain (free-mail named as such), 9-digit numbers passing the
    11-proof (possible BSNs), IBANs whose bank code is not fictional (real Dutch banks
    named), real company names, fields named like a national ID. Each finding says where
    (line and field, or table.column and rowid) and why.

    Exit status: 0 when clean, 1 when anything is found, 2 when PATH cannot be read.
    """
    counts: Counter[str] = Counter()
    try:
        for finding in scan_path(path):
            counts[finding.kind] += 1
            if not limit or sum(counts.values()) <= limit:
                click.echo(str(finding))
    except SandboxError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except OSError as exc:
        click.echo(f"Error: {click.format_filename(path)}: cannot be read ({exc.strerror})",
                   err=True)
        raise SystemExit(2) from None
    total = sum(counts.values())
    if not total:
        click.echo(f"{click.format_filename(path)}: clean, nothing looks like real personal data")
        return
    summary = ", ".join(f"{n:,} {kind}" for kind, n in counts.most_common())
    shown = f" (showing {limit:,})" if limit and total > limit else ""
    click.echo(f"{total:,} finding(s){shown}: {summary}", err=True)
    raise SystemExit(1)


COMMANDS: list[click.Command] = [import_, scan]
