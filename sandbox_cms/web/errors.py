"""Error pages: every failure is a clear page with the right status, never a traceback.

HTTP errors (400/403/404/405/413) keep their status; a library error
(:class:`sandbox_cms.core.errors.SandboxError`) becomes 403, 404 or 400 depending on its kind;
anything else is logged and shown as a plain 500 page.
"""

from __future__ import annotations

from flask import Flask, current_app, render_template
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound

from sandbox_cms.core.errors import SandboxError

# Library errors by class name (looked up along the class hierarchy), so this module does
# not need to import every mechanism. Anything else that is a SandboxError is a 400.
STATUS_BY_ERROR: dict[str, int] = {
    "PurposeViolation": 403,
    "RecordRefused": 403,
    "AccessRefused": 403,
    "AccessDenied": 403,
    "ConsentMissing": 403,
    "UnknownCustomer": 404,
    "CustomerNotFound": 404,
    "UnknownRequest": 404,
    "UnknownToken": 404,
    "NotFound": 404,
}
_DEFAULT_404 = NotFound.description
TITLES = {
    400: "Bad request",
    403: "Refused",
    404: "Not found",
    405: "Method not allowed",
    413: "Too much data",
    500: "Something went wrong",
}


def status_for(error: SandboxError) -> int:
    """The HTTP status for a library error."""
    for cls in type(error).__mro__:
        if cls.__name__ in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls.__name__]
    return 400


def error_page(status: int, message: str, headers: dict[str, str] | None = None):
    """Render the shared error template with a status and a message meant for the user."""
    body = render_template("error.html", status=status, title=TITLES.get(status, "Error"),
                           message=message)
    return body, status, headers or {}


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    headers = {}
    if error.code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    if error.code == 404 and error.description == _DEFAULT_404:
        message = "There is no page at this address."
    else:
        message = error.description or ""
    if error.code >= 500:
        message = "The sandbox CMS could not finish this request. Nothing was shown or changed."
    return error_page(error.code, message, headers)


def _sandbox_error(error: SandboxError):
    return error_page(status_for(error), str(error))


def _unexpected(error: Exception):
    current_app.logger.exception("unexpected error while serving a request", exc_info=error)
    return error_page(500, "The sandbox CMS could not finish this request because of an "
                           "internal error. It has been logged; nothing was shown.")


def init_app(app: Flask) -> None:
    """Register the handlers (most specific class wins)."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SandboxError, _sandbox_error)
    app.register_error_handler(InternalServerError, _unexpected)
    app.register_error_handler(Exception, _unexpected)
