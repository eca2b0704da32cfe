"""The sandbox CMS in the browser: a server-rendered Flask app over one sandbox database.

``create_app(db_path)`` builds the app; ``sandbox-cms serve`` runs it with waitress on
127.0.0.1; :mod:`sandbox_cms.web.proxy` makes it a JupyterLab launcher entry (imported by the
Jupyter server at start-up, so this package imports Flask only when the app is built).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DB_ENV", "create_app"]

DB_ENV = "SANDBOX_CMS_DB"
"""The environment variable naming the database to serve (``sandbox-cms serve``, the proxy)."""


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from sandbox_cms.web.app import create_app

        return create_app
    raise AttributeError(name)
