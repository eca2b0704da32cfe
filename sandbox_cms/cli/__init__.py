"""The ``sandbox-cms`` command: a thin layer over the library.

Each submodule lists its click commands in ``COMMANDS``; library errors
(:class:`sandbox_cms.errors.SandboxError`) become one-line messages and exit status 1.
"""

from __future__ import annotations

import click

from sandbox_cms import __version__
from sandbox_cms.errors import SandboxError

from . import build, data, privacy, requests, web


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SandboxError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="sandbox-cms")
def main() -> None:
    """The sandbox CMS: a webshop back office with synthetic customers only."""


for _module in (build, data, privacy, requests, web):
    for _command in _module.COMMANDS:
        main.add_command(_command)
