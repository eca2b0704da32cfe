"""``sandbox-cms serve``: the sandbox CMS in the browser, served by waitress."""

from __future__ import annotations

import os
import signal

import click

from sandbox_cms.web import DB_ENV

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8730


@click.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False), envvar=DB_ENV,
              default="sandbox.db", show_default=True,
              help=f"The sandbox database to serve (or set {DB_ENV}).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="TCP port to listen on (0: any free port).")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to bind. The default serves this machine only; another address "
                   "exposes the CMS to the network.")
@click.option("--create", is_flag=True,
              help="Build a fresh webshop sandbox at --db first if there is none.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Worker threads of the server.")
def serve(db_path: str, port: int, host: str, create: bool, threads: int) -> None:
    """Serve the sandbox CMS web app (back office and shop front) with waitress.

    Binds to 127.0.0.1 unless --host says otherwise. Behind a proxy that strips a path
    prefix (JupyterLab's server proxy) the app honours the X-Forwarded-Prefix header.
    """
    from waitress import create_server

    from sandbox_cms.web import create_app
    from sandbox_cms.web.sandbox import close_all

    if create and not os.path.exists(db_path):
        from pathlib import Path

        from sandbox_cms.data.build import fresh_copy

        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        fresh_copy(db_path)
        click.echo(f"Built a fresh webshop sandbox at {db_path}", err=True)
    app = create_app(db_path)
    server = create_server(app, host=host, port=port, threads=threads, ident="sandbox-cms")
    bound = server.effective_port
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}, reachable from other machines", err=True)
    click.echo(f"Sandbox CMS on http://{host}:{bound}/ serving {db_path} (Ctrl+C stops)",
               err=True)
    # SIGTERM (a service manager, `kill`, a closing JupyterLab) stops the server like Ctrl+C:
    # the connections are closed cleanly, so SQLite checkpoints the write-ahead log and removes
    # the -wal file, which may still hold page images from before an erasure.
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (run from a test): nothing to install
        previous = None
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        server.close()
        close_all(app)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


COMMANDS: list[click.Command] = [serve]
