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

from sandbox_cms.web import DB_ENV

NAME = "sandbox-cms"
ICON = Path(__file__).resolve().parent / "static" / "icon.svg"


# Where the course keeps the learner's sandbox (see grading.workspace), in order of preference.
COURSE_DB_ENV = "SANDBOX_DB"
COURSE_WORKSPACE_ENV = "PRIVACY_COURSE_WORKSPACE"


def default_db() -> str:
    """The sandbox the launcher serves: the learner's own, as the course set it up.

    ``$SANDBOX_CMS_DB``, else ``$SANDBOX_DB``, else ``sandbox.db`` in
    ``$PRIVACY_COURSE_WORKSPACE``, else ``~/privacy-course/sandbox.db``.
    """
    for name in (DB_ENV, COURSE_DB_ENV):
        if os.environ.get(name):
            return os.environ[name]
    if os.environ.get(COURSE_WORKSPACE_ENV):
        return str(Path(os.environ[COURSE_WORKSPACE_ENV]) / "sandbox.db")
    return str(Path.home() / "privacy-course" / "sandbox.db")


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
