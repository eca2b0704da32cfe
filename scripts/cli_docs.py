"""Write docs/cli.md from the commands' own help: ``python scripts/cli_docs.py``.

tests/test_docs.py fails when docs/cli.md is out of date, so the reference never drifts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def walk(command: click.Command, path: list[str]):
    """Yield (words, command) for a command and all its subcommands, depth first."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], [*path, name])


def render() -> str:
    from grading.cli import main as course_main
    from sandbox_cms.cli import main as sandbox_main

    parts = [
        "# Command-line reference\n",
        "Generated from the commands' own `--help` by `scripts/cli_docs.py`; do not edit.\n",
    ]
    for prog, group in (("sandbox-cms", sandbox_main), ("privacy-course", course_main)):
        for words, command in walk(group, [prog]):
            ctx = click.Context(command, info_name=" ".join(words))
            level = "##" if len(words) == 1 else "###"
            parts.append(f"{level} `{' '.join(words)}`\n")
            parts.append("```\n" + command.get_help(ctx).strip() + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
