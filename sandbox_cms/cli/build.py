"""``sandbox-cms seed`` and ``sandbox-cms scenarios``."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

import click

from sandbox_cms.data.build import build_sandbox
from sandbox_cms.data.scenario import available_scenarios, load_scenario

PROGRESS_FROM = 50_000  # show a progress bar on a terminal from this many customers


@click.command()
@click.option(
    "--scenario",
    default="webshop",
    show_default=True,
    help="Scenario name (see `sandbox-cms scenarios`) or path to a scenario TOML file.",
)
@click.option(
    "--customers",
    type=click.IntRange(min=0),
    default=None,
    help="Number of customers (default: the scenario's).",
)
@click.option("--seed", type=int, default=None, help="Random seed (default: the scenario's).")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Database file to create.",
)
@click.option("--force", is_flag=True, help="Replace the database if it exists.")
def seed(scenario: str, customers: int | None, seed: int | None, db_path: str, force: bool) -> None:
    """Build a sandbox database of synthetic customers from a scenario.

    The database is written to a temporary file and renamed into place when complete, so an
    interrupted run leaves nothing behind. The same scenario, size and seed always give the
    same database.
    """
    spec = load_scenario(scenario).with_overrides(customers=customers, seed=seed)
    show_bar = sys.stderr.isatty() and spec.customers >= PROGRESS_FROM
    with _stopped_cleanly_by_sigterm(), click.progressbar(
        length=spec.customers, label="customers", file=sys.stderr, hidden=not show_bar
    ) as bar:
        summary = build_sandbox(db_path, spec, force=force, progress=bar.update)
    click.echo(
        f"Built {summary.path} from scenario {summary.scenario!r} (seed {summary.seed})"
        f" in {summary.seconds:.2f} s"
    )
    for table, count in summary.rows.items():
        click.echo(f"  {table:<15} {count:>10,}")


@contextlib.contextmanager
def _stopped_cleanly_by_sigterm() -> Iterator[None]:
    """Inside: `kill` (SIGTERM) stops the build like Ctrl-C does, so the temporary files go."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command()
def scenarios() -> None:
    """List the scenarios shipped in datasets/scenarios/."""
    for name in available_scenarios():
        spec = load_scenario(name)
        click.echo(f"{name:<10} {spec.title} ({spec.customers} customers, seed {spec.seed})")


COMMANDS: list[click.Command] = [seed, scenarios]
