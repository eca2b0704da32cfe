"""Retention periods as the law counts them: days after an event, or years from the end of
the financial year in which the event fell.

Dutch tax law keeps the administration for seven years (AWR art. 52(4); BW 2:10(3) for legal
persons, BW 3:15i for other businesses). The statute names no start date; the tax
authority's practice counts the seven years from the end of the financial year the record
belongs to. An invoice of year Y (calendar financial year) is therefore kept until 31
December of Y + 7 and is due for deletion from 1 January of Y + 8. A shop whose financial
year ends on another day sets ``financial_year_end`` in ``datasets/policy/retention.toml``.

Both ``sandbox_cms.privacy.retention`` (the schedule) and ``sandbox_cms.privacy.erasure``
(which invoices an erasure keeps) count with these functions, so they never disagree.
"""

from __future__ import annotations

import datetime as dt
import re

from sandbox_cms.core.moments import Moment, to_iso

EVENT = "event"
END_OF_FINANCIAL_YEAR = "end_of_financial_year"
COUNTED_FROM = (EVENT, END_OF_FINANCIAL_YEAR)
CALENDAR_YEAR_END = "12-31"
_MONTH_DAY = re.compile(r"^(\d\d)-(\d\d)$")


def check_year_end(value: object) -> str | None:
    """Why ``value`` is not a usable financial-year end (``MM-DD``, not 02-29), or None."""
    match = _MONTH_DAY.match(value) if isinstance(value, str) else None
    if match is None:
        return f"must be a month and day as 'MM-DD' (e.g. '{CALENDAR_YEAR_END}'), not {value!r}"
    month, day = int(match[1]), int(match[2])
    try:
        dt.date(2001, month, day)  # not a leap year: 02-29 has no end in most years
    except ValueError:
        return f"{value!r} is not a day that occurs every year"
    return None


def financial_year_end(day: dt.date, year_end: str = CALENDAR_YEAR_END) -> dt.date:
    """The last day of the financial year that contains ``day``."""
    month, mday = (int(part) for part in year_end.split("-"))
    end = dt.date(day.year, month, mday)
    return end if day <= end else dt.date(day.year + 1, month, mday)


def _moment(value: Moment) -> dt.datetime:
    return dt.datetime.fromisoformat(to_iso(value))


def _plus_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without it: the day after 28 February
        return dt.date(day.year + years, 3, 1)


def due_moment(since: Moment, *, days: int | None = None, years: int | None = None,
               counted_from: str = EVENT, year_end: str = CALENDAR_YEAR_END) -> str:
    """When data whose period runs from ``since`` is due (the first moment it may no longer
    be kept), in stored form.

    ``days`` after the event; or ``years`` after the event; or ``years`` after the end of the
    financial year of the event (kept through that last day, due at the start of the next).
    """
    start = _moment(since)
    if counted_from == END_OF_FINANCIAL_YEAR:
        if years is None:
            raise ValueError("a period counted from the end of the financial year is in years")
        last = _plus_years(financial_year_end(start.date(), year_end), years)
        return to_iso(last + dt.timedelta(days=1))
    if years is not None:
        return to_iso(dt.datetime.combine(_plus_years(start.date(), years), start.time()))
    if days is None:
        raise ValueError("a period needs days or years")
    return to_iso(start + dt.timedelta(days=days))


def latest_due_since(at: Moment, *, days: int | None = None, years: int | None = None,
                     counted_from: str = EVENT, year_end: str = CALENDAR_YEAR_END) -> str:
    """A bound on the event: everything due at ``at`` has its event on or before it.

    Exact for day periods (event <= at - days); for year periods a few days generous, so a
    query filters on it first and then compares the exact due moment with ``at``.
    """
    moment = _moment(at)
    if counted_from == END_OF_FINANCIAL_YEAR and years is not None:
        # Due at `at` means the event's financial year ended before the current one began.
        start_of_current = financial_year_end(moment.date(), year_end) + dt.timedelta(days=1)
        bound = _plus_years(start_of_current, -1 - years)
        return to_iso(bound)
    if years is not None:
        return to_iso(dt.datetime.combine(_plus_years(moment.date(), -years), moment.time())
                      + dt.timedelta(days=2))
    return to_iso(moment - dt.timedelta(days=days or 0))


def due_sql(since: str, *, days: int | None = None, years: int | None = None,
            counted_from: str = EVENT, year_end: str = CALENDAR_YEAR_END) -> str:
    """An SQLite expression for :func:`due_moment` of the column or expression ``since``
    (the period values are checked numbers and an ``MM-DD`` string, so they are inlined)."""
    stamp = "'%Y-%m-%dT%H:%M:%S'"
    if counted_from == END_OF_FINANCIAL_YEAR and years is not None:
        if check_year_end(year_end):
            raise ValueError(check_year_end(year_end))
        end_year = (f"(CAST(substr({since}, 1, 4) AS INTEGER)"
                    f" + (substr({since}, 6, 5) > '{year_end}'))")
        return (f"strftime({stamp}, printf('%04d-{year_end}', {end_year} + {int(years)}),"
                " '+1 day')")
    if years is not None:
        return f"strftime({stamp}, {since}, '+{int(years)} years')"
    return f"strftime({stamp}, {since}, '+{int(days or 0)} days')"
