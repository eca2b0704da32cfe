"""The Flask application factory."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from sandbox_cms.core.errors import NotASandbox
from sandbox_cms.web import csrf, errors, filters, sandbox
from sandbox_cms.web.views import BLUEPRINTS

MAX_BODY_BYTES = 64 * 1024  # every form of the CMS fits in far less
SECURITY_HEADERS = {
    # No scripts at all: the CMS is plain HTML forms, so injected markup cannot run.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # confirmation links carry a token
}


def create_app(db_path: str | Path, *, secret_key: bytes | str | None = None,
               config: dict[str, Any] | None = None) -> Flask:
    """A CMS app over the sandbox database at ``db_path``.

    Behind a proxy that strips a path prefix (jupyter-server-proxy, a JupyterHub) the app
    honours ``X-Forwarded-Prefix`` (or a WSGI ``SCRIPT_NAME``), so every link it generates
    keeps the prefix.
    """
    path = Path(db_path)
    if not path.is_file():
        raise NotASandbox(f"no sandbox database at {path}")
    app = Flask(__name__)
    app.config.update(
        SANDBOX_DB=str(path),
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="sandbox_cms_session",
    )
    app.config.update(config or {})
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=0, x_proto=0, x_host=0, x_port=0, x_prefix=1)
    csrf.init_app(app)
    errors.init_app(app)
    sandbox.init_app(app)
    filters.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
