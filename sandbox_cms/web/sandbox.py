"""One :class:`~sandbox_cms.cms.Sandbox` per request, opened lazily and always closed."""

from __future__ import annotations

import datetime as dt

from flask import Flask, current_app, g

from sandbox_cms.cms import Sandbox, open_sandbox

ACTOR = "web"  # who the audit log names for accesses made through the web app


def cms() -> Sandbox:
    """The sandbox of this request (opened on first use)."""
    if "cms" not in g:
        g.cms = open_sandbox(current_app.config["SANDBOX_DB"])
    return g.cms


def sandbox_now() -> dt.datetime | None:
    """The sandbox clock for the page header; None if the database cannot be read."""
    try:
        return cms().clock.now()
    except Exception:  # the header must never turn a page into an error
        return None


def _close(_exc: BaseException | None) -> None:
    sandbox = g.pop("cms", None)
    if sandbox is not None:
        sandbox.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
    app.jinja_env.globals["sandbox_now"] = sandbox_now
