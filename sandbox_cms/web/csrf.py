"""CSRF protection: one random token per browser session, required on every POST form.

The token lives in Flask's signed session cookie and must come back in the form field
``csrf_token`` (or the ``X-CSRF-Token`` header). A request without it, or with a wrong one,
gets a 400 page and changes nothing.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """The session's token (created on first use); put it in every POST form."""
    token = session.get(FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[FIELD] = token
    return token


def _check() -> None:
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return  # nothing to protect; an unknown address or wrong method gets its own page
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    expected = session.get(FIELD) or ""
    if not (sent and expected and hmac.compare_digest(sent, expected)):
        abort(400, description="This form arrived without its security token (CSRF check). "
                               "Nothing was changed: go back, reload the page and send it again.")


def init_app(app: Flask) -> None:
    """Check the token before every unsafe request; offer ``csrf_token()`` to templates."""
    app.before_request(_check)
    app.jinja_env.globals["csrf_token"] = csrf_token
