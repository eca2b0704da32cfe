"""One sandbox, two views: open a notebook's own sandbox in the web CMS.

:func:`show_in_browser` serves the database of the sandbox a notebook works on with the web
app (waitress, as ``sandbox-cms serve``) in a background thread of the notebook's own
process, bound to 127.0.0.1 on a free port, and returns a :class:`CmsLink`. In JupyterLab
the link goes through jupyter-server-proxy, ``<base_url>proxy/<port>/``: the proxy strips
that prefix and sends it in ``X-Forwarded-Prefix``, which the app puts in front of every
link it makes, so this also works on a JupyterHub where the browser cannot reach the
learner's ports. Outside Jupyter the link is ``http://127.0.0.1:<port>/``.

The web app opens its own connections to the same file (write-ahead log), one per server
thread, each reading the latest committed state on every request: what the notebook does in
code (a mailing, an erasure, a clock move) shows in the back office and on its audit log
page at the next page load. The server stops when the sandbox is closed, when it is
garbage-collected, or when the process (the kernel) exits; ``link.close()`` stops it at once.
"""

from __future__ import annotations

import atexit
import html
import os
import socket
import sys
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from sandbox_cms.cms import Sandbox

HOST = "127.0.0.1"  # never another address: the sandbox is the learner's alone
HUB_PREFIX_ENV = "JUPYTERHUB_SERVICE_PREFIX"  # set by JupyterHub in every single-user server
PAGES = (("", "the dashboard"), ("customers", "customers"), ("audit", "the audit log"))

_LINKS: dict[int, CmsLink] = {}  # id(sandbox) -> its running link
_LOCK = threading.Lock()


@dataclass(eq=False)
class CmsLink:
    """A running web CMS over one sandbox's database, and the links to it."""

    db: str
    port: int
    base_url: str | None  # the Jupyter server's base URL, when running under Jupyter
    error: str | None = None
    _server: Any = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _app: Flask | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def local_url(self) -> str:
        """The CMS straight on this machine (a browser on the same computer)."""
        return f"http://{HOST}:{self.port}/"

    @property
    def proxy_url(self) -> str | None:
        """The CMS through Jupyter's server proxy (a path on the Jupyter server's own
        address), or None outside Jupyter."""
        if self.base_url is None:
            return None
        return f"{self.base_url}proxy/{self.port}/"

    @property
    def url(self) -> str:
        """The link to use: through the proxy under Jupyter, else on localhost."""
        return self.proxy_url or self.local_url

    def close(self) -> None:
        """Stop the server and close its connections to the database."""
        server, thread, app = self._server, self._thread, self._app
        self._server = self._thread = self._app = None
        with _LOCK:
            for key, link in list(_LINKS.items()):
                if link is self:
                    del _LINKS[key]
        if server is None:
            return
        _stop(server, thread, app)

    def __str__(self) -> str:
        if self.error:
            return f"The web CMS could not start: {self.error}"
        where = f"{self.url} (on this machine: {self.local_url})" if self.proxy_url else self.url
        state = "" if self.running else " (stopped)"
        return f"This notebook's sandbox in the web CMS: {where}{state}"

    def __repr__(self) -> str:
        return f"<CmsLink {self.url} db={self.db}{'' if self.running else ' stopped'}>"

    def _repr_html_(self) -> str:
        if self.error:
            return f"<p>The web CMS could not start: {html.escape(self.error)}</p>"
        if not self.running:
            return f"<p>The web CMS of {html.escape(self.db)} is stopped.</p>"
        links = ", ".join(
            f'<a href="{html.escape(self.url + path)}" target="_blank" rel="noopener">'
            f"{html.escape(label)}</a>" for path, label in PAGES)
        direct = (f' On this machine it is also at <code>{html.escape(self.local_url)}</code>.'
                  if self.proxy_url else "")
        return (f'<div class="sandbox-cms-link"><p><b>This notebook\'s sandbox in the web CMS'
                f"</b> (opens in a new tab): {links}.{direct}</p><p><small>"
                f"Serving <code>{html.escape(self.db)}</code> until this sandbox is closed or "
                "the kernel stops.</small></p></div>")


def show_in_browser(cms: Sandbox, base_url: str | None = None, port: int = 0) -> CmsLink:
    """Serve ``cms``'s database with the web CMS and return the link (one server per
    sandbox: a second call returns the running one).

    ``base_url`` is the Jupyter server's base URL for the proxy link; by default it is found
    (JupyterHub's prefix, else the Jupyter server that started this kernel), and None outside
    Jupyter. ``port`` 0 takes a free port. A server that cannot start gives a link that says
    why, never an exception: a notebook cell that opens it must not fail a graded run.
    """
    with _LOCK:
        running = _LINKS.get(id(cms))
        if running is not None and running.running:
            return running
    base = base_url if base_url is not None else jupyter_base_url()
    if base is not None and not base.endswith("/"):
        base += "/"
    cms.flush()  # the audit entries the notebook still holds, so the web side sees them
    try:
        server, thread, app = _start(str(cms.path), port)
    except Exception as exc:  # noqa: BLE001 - shown in the notebook instead
        return CmsLink(str(cms.path), port, base, error=f"{type(exc).__name__}: {exc}")
    link = CmsLink(str(cms.path), int(server.effective_port), base, None, server, thread, app)
    with _LOCK:
        _LINKS[id(cms)] = link
    cms.on_close(link.close)
    weakref.finalize(cms, link.close)
    return link


def jupyter_base_url() -> str | None:
    """The base URL of the Jupyter server this kernel runs under, or None outside Jupyter."""
    prefix = os.environ.get(HUB_PREFIX_ENV)
    if prefix:
        return prefix if prefix.endswith("/") else prefix + "/"
    if not _in_a_kernel():
        return None
    try:
        from jupyter_server.serverapp import list_running_servers

        servers = list(list_running_servers())
    except Exception:  # noqa: BLE001 - no server information: assume the default
        servers = []
    parent = os.environ.get("JPY_PARENT_PID") or str(os.getppid())
    for info in servers:
        if str(info.get("pid")) == parent:
            return str(info.get("base_url") or "/")
    return str(servers[0].get("base_url") or "/") if len(servers) == 1 else "/"


def _in_a_kernel() -> bool:
    """True when this code runs in a Jupyter kernel (not merely with ipykernel imported,
    as a test process or a script that drives notebooks has it)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _start(db: str, port: int) -> tuple[Any, threading.Thread, Flask]:
    from waitress import create_server

    from sandbox_cms.web import create_app

    app = create_app(db)
    # Bound here, not by waitress: a port that is taken then leaves no half-made server
    # (waitress would keep its socket and wake-up pipe open).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
        server = create_server(app, sockets=[sock], threads=2, ident="sandbox-cms")
    except BaseException:
        sock.close()
        raise
    thread = threading.Thread(target=server.run, name=f"sandbox-cms:{server.effective_port}",
                              daemon=True)
    thread.start()
    return server, thread, app


def _stop(server: Any, thread: threading.Thread | None, app: Flask | None) -> None:
    from sandbox_cms.web.sandbox import close_all

    def close_every_channel() -> None:  # runs in the server's own loop thread
        for channel in list(server._map.values()):
            channel.close()

    try:
        server.trigger.pull_trigger(close_every_channel)
    except Exception:  # noqa: BLE001 - the loop is gone already
        close_every_channel()
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout=5)
    server.task_dispatcher.shutdown(timeout=5)
    if app is not None:
        close_all(app)


@atexit.register
def _stop_all() -> None:
    """The kernel is exiting: stop every server it started, cleanly (the web connections
    close, so no write-ahead log is left beside a database)."""
    for link in list(_LINKS.values()):
        link.close()
