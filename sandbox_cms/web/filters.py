"""Template filters and globals: money, dates, the sandbox clock in the header."""

from __future__ import annotations

import datetime as dt

from flask import Flask


def money(cents: int | None) -> str:
    """1999 -> '€ 19.99'."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}€ {cents // 100:,}.{cents % 100:02d}"


def when(value: str | dt.datetime | dt.date | None) -> str:
    """An ISO timestamp shown without seconds: '2025-03-01 09:00'."""
    if value is None or value == "":
        return ""
    text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
    return text.replace("T", " ")[:16]


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(money=money, when=when)
