"""The JupyterLab launcher entry: open the sandbox CMS through jupyter-server-proxy.

jupyter-server-proxy finds :func:`setup_sandbox_cms` through the entry point group
``jupyter_serverproxy_servers`` (see pyproject.toml), starts ``sandbox-cms serve`` on a free
port when the launcher tile is clicked, and proxies ``<base_url>/sandbox-cms/`` to it, so it
also works on a JupyterHub where learners have no ports of their own. The proxy strips the
prefix and sends it in ``X-Forwarded-Prefix``, which the app uses for every link.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sandbox_cms.cli.web import DB_ENV

NAME = "sandbox-cms"
ICON = Path(__file__).resolve().parent / "static" / "icon.svg"


def default_db() -> str:
    """The sandbox the launcher serves: ``$SANDBOX_CMS_DB`` or ``~/privacy-course/sandbox.db``."""
    return os.environ.get(DB_ENV) or str(Path.home() / "privacy-course" / "sandbox.db")


def serve_command() -> str:
    """The ``sandbox-cms`` script of this Python environment (or the one on PATH)."""
    script = Path(sys.executable).with_name("sandbox-cms")
    return str(script) if script.exists() else "sandbox-cms"


def setup_sandbox_cms() -> dict[str, Any]:
    """The server-process settings jupyter-server-proxy asks for."""
    return {
        "command": [
            serve_command(), "serve",
            "--db", default_db(), "--create", "--host", "127.0.0.1", "--port", "{port}",
        ],
        "timeout": 30,
        "absolute_url": False,
        "new_browser_tab": True,
        "launcher_entry": {
            "enabled": True,
            "title": "Sandbox CMS",
            "icon_path": str(ICON),
            "category": "Notebook",
        },
    }
