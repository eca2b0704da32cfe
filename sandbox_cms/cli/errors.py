"""The click group both commands use: library errors become a one-line message, exit 1."""

from __future__ import annotations

import click

from sandbox_cms.core.errors import SandboxError


class MessageGroup(click.Group):
    """A click group that shows a :class:`SandboxError` as ``Error: <message>`` (exit 1)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SandboxError as exc:
            raise click.ClickException(str(exc)) from None
