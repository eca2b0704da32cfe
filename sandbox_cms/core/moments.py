"""Moments as the ISO strings the tables store (``YYYY-MM-DDTHH:MM:SS``).

Time columns hold ISO datetimes (or bare dates for invoice dates), so a plain string
comparison orders them. Parsing is the clock's (:func:`sandbox_cms.core.clock.parse_time`): a date
without a time means the start of that day; a bad value raises ClockError.
"""

from __future__ import annotations

import datetime as dt

from sandbox_cms.core.clock import TimeLike, parse_time

Moment = TimeLike


def to_iso(value: Moment) -> str:
    """The stored form of a moment: ``YYYY-MM-DDTHH:MM:SS``."""
    return parse_time(value).isoformat(timespec="seconds")


def add_days(value: Moment, days: int) -> str:
    """A moment plus (or minus) a number of days, in stored form."""
    return to_iso(parse_time(value) + dt.timedelta(days=days))
