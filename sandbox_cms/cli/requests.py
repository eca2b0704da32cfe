"""CLI commands (see sandbox_cms.cli)."""

import click

COMMANDS: list[click.Command] = []
