"""Reading request input: every value checked for presence, length and shape.

Each helper either returns a clean value or aborts with a 400 page that names the field, so
views never see malformed input and nothing is changed by a bad request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from flask import abort

MAX_TEXT = 200      # a name, street, e-mail address, search term
MAX_SEARCH = 100


def text(source: Mapping[str, str], name: str, *, label: str | None = None,
         max_length: int = MAX_TEXT, required: bool = True) -> str:
    """A stripped text field; 400 when missing (if required) or longer than ``max_length``."""
    label = label or name.replace("_", " ")
    value = (source.get(name) or "").strip()
    if len(value) > max_length:
        abort(400, description=f"The field '{label}' is too long: at most {max_length} "
                               f"characters, not {len(value)}.")
    if required and not value:
        abort(400, description=f"The field '{label}' is required.")
    if "\x00" in value:
        abort(400, description=f"The field '{label}' contains a NUL character.")
    return value


def integer(source: Mapping[str, str], name: str, *, minimum: int = 0,
            maximum: int = 2**63 - 1, default: int | None = None) -> int | None:
    """An optional whole number within bounds; 400 when malformed or out of range."""
    raw = (source.get(name) or "").strip()
    if not raw:
        return default
    if len(raw) > 20 or not raw.lstrip("-").isdigit():
        abort(400, description=f"'{name}' must be a whole number, not {raw[:40]!r}.")
    value = int(raw)
    if not minimum <= value <= maximum:
        abort(400, description=f"'{name}' must be between {minimum} and {maximum}.")
    return value


def date(source: Mapping[str, str], name: str, *, required: bool = False) -> dt.date | None:
    """An ISO date (YYYY-MM-DD); 400 when malformed."""
    raw = (source.get(name) or "").strip()
    if not raw:
        if required:
            abort(400, description=f"The field '{name}' is required (a date like 2025-03-01).")
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400, description=f"'{name}' must be a date written as YYYY-MM-DD "
                               f"(for example 2025-03-01), not {raw[:40]!r}.")


def choice(source: Mapping[str, str], name: str, options: list[str] | tuple[str, ...], *,
           required: bool = False) -> str | None:
    """One of ``options``; 400 otherwise."""
    raw = (source.get(name) or "").strip()
    if not raw:
        if required:
            abort(400, description=f"Choose a value for '{name}'.")
        return None
    if raw not in options:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        abort(400, description=f"'{name}' must be one of {', '.join(options)}, not {shown!r}.")
    return raw
