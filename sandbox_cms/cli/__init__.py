"""The ``sandbox-cms`` command: a thin layer over the library.

Each submodule lists its click commands in ``COMMANDS``; library errors
(:class:`sandbox_cms.core.errors.SandboxError`) become one-line messages and exit status 1.
"""

from __future__ import annotations

import click

from sandbox_cms.cli.errors import MessageGroup
from sandbox_cms.core.version import __version__

from . import build, data, privacy, requests, web


@click.group(cls=MessageGroup)
@click.version_option(__version__, prog_name="sandbox-cms")
def main() -> None:
    """The sandbox CMS: a webshop back office with synthetic customers only."""


for _module in (build, data, privacy, requests, web):
    for _command in _module.COMMANDS:
        main.add_command(_command)
