"""The simulated clock: the sandbox's "now", kept in the ``meta`` table under ``clock_now``.

Everything time-dependent (consent state, retention, audit times) asks this clock, so a test
or a notebook can run a retention job "on 2031-01-01". The clock only moves forward: moving
it back would let the audit log run backwards and undo deadlines that already passed, so it
is refused. To look at an earlier moment, pass ``at=`` to the query that takes it (e.g.
``cms.consent.may(..., at=...)``) or start a fresh sandbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import sqlite3
from collections.abc import Callable

from sandbox_cms.core.errors import ClockError

META_KEY = "clock_now"

TimeLike = dt.datetime | dt.date | str


def parse_time(value: TimeLike) -> dt.datetime:
    """A naive datetime from a datetime, a date (midnight) or an ISO string; else ClockError."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ClockError(
                f"{value!r} is not a date or time (use e.g. 2031-01-01 or 2031-01-01T09:00)"
            ) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.replace(microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise ClockError(f"expected a date, datetime or ISO string, not {type(value).__name__}")


class Clock:
    """The sandbox clock.

    ``system()`` opens the scope in which the CMS may write its own tables (one transaction);
    ``on_change(old, new)`` runs inside it after every move (the facade logs it).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        system: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
        on_change: Callable[[dt.datetime, dt.datetime], None] | None = None,
    ) -> None:
        self._conn = conn
        self._system = system
        self._on_change = on_change

    def now(self) -> dt.datetime:
        """The simulated current time (naive, second precision)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
        if row is None:
            raise ClockError("this sandbox has no clock (meta key 'clock_now' is missing)")
        return parse_time(row[0])

    def set(self, when: TimeLike) -> dt.datetime:
        """Move the clock to ``when``; refused if that lies before now."""
        new = parse_time(when)
        old = self.now()
        if new < old:
            raise ClockError(
                f"the clock cannot move backwards (now {old.isoformat(' ')}, asked"
                f" {new.isoformat(' ')}): the audit log and deadlines already passed depend on"
                " it. Pass at=... to a query to look at an earlier moment, or start a fresh"
                " sandbox."
            )
        if new != old:
            with self._system():
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (META_KEY, new.isoformat()),
                )
                if self._on_change:
                    self._on_change(old, new)
        return new

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0) -> dt.datetime:
        """Move the clock forward by the given amount; negative amounts are refused."""
        for name, amount in (("days", days), ("hours", hours), ("minutes", minutes)):
            if not isinstance(amount, int | float) or isinstance(amount, bool):
                raise ClockError(f"{name} must be a number, not {amount!r}")
            if not math.isfinite(amount):
                raise ClockError(f"{name} must be a finite number, not {amount!r}")
            if amount < 0:
                raise ClockError(f"the clock cannot move backwards ({name}={amount})")
        now = self.now()
        try:
            return self.set(now + dt.timedelta(days=days, hours=hours, minutes=minutes))
        except OverflowError:
            raise ClockError(
                f"cannot move the clock that far: {now.isoformat(' ')} plus days={days},"
                f" hours={hours}, minutes={minutes} lies beyond the year 9999"
            ) from None

    def __repr__(self) -> str:
        return f"<Clock {self.now().isoformat(' ')}>"
