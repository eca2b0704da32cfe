"""The ``privacy-course`` command (instructor and learner entry points)."""

import click


@click.group()
def main() -> None:
    """Run, release and grade the privacy-engineering course."""
