"""The customer directory: a paged, searchable list of customers, read under one purpose.

A list shows only what a list needs (who is this, how to reach them), read through
``cms.processing(LIST_PURPOSE)`` so every page viewed is in the audit log. Paging is by
keyset on the customer id (``after``/``before``), so page 2,000 is as fast as page 1;
search is a prefix match on last name (case-insensitive) or e-mail address, both indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox_cms.errors import SandboxError

LIST_PURPOSE = "customer_service"
LIST_COLUMNS = ("id", "first_name", "last_name", "email", "city")
PAGE_SIZE = 50
MAX_SEARCH = 100

# One search box: a prefix of the last name (NOCASE index) or of the e-mail address.
_SEARCH = (
    "((last_name >= :lo COLLATE NOCASE AND last_name < :hi COLLATE NOCASE)"
    " OR (email >= :elo AND email < :ehi))"
)


class SearchTooLong(SandboxError):
    """A search term is longer than a last name or e-mail prefix can be."""


@dataclass(frozen=True)
class CustomerPage:
    """One page of the list: the purpose it was read under, its rows and the keyset links."""

    purpose: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    search: str
    next_after: int | None
    prev_before: int | None


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """The half-open range [lo, hi) of strings that start with ``prefix``."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def list_customers(cms: Any, *, search: str = "", after: int | None = None,
                   before: int | None = None, limit: int = PAGE_SIZE,
                   purpose: str = LIST_PURPOSE) -> CustomerPage:
    """A page of customers, optionally filtered by a last-name or e-mail prefix."""
    search = search.strip()
    if len(search) > MAX_SEARCH:
        raise SearchTooLong(f"a search term has at most {MAX_SEARCH} characters")
    where, params = [], {"limit": limit + 1}
    if search:
        where.append(_SEARCH)
        params["lo"], params["hi"] = prefix_bounds(search)
        params["elo"], params["ehi"] = prefix_bounds(search.lower())
    # In a search, "+id" keeps the planner on the two prefix indexes instead of walking
    # the whole id range looking for rare matches.
    key = "+id" if search else "id"
    if before is not None:
        where.append(f"{key} < :before")
        params["before"] = before
        order = "DESC"
    else:
        if after is not None:
            where.append(f"{key} > :after")
            params["after"] = after
        order = "ASC"
    columns = ", ".join(LIST_COLUMNS)
    sql = (f"SELECT {columns} FROM customers"
           f"{' WHERE ' + ' AND '.join(where) if where else ''}"
           f" ORDER BY id {order} LIMIT :limit")
    with cms.processing(purpose) as p:
        rows = p.query(sql, params)
    more = len(rows) > limit
    rows = rows[:limit]
    if before is not None:
        rows.reverse()
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, after is not None
    return CustomerPage(
        purpose=purpose,
        columns=LIST_COLUMNS,
        rows=rows,
        search=search,
        next_after=rows[-1]["id"] if rows and has_next else None,
        prev_before=rows[0]["id"] if rows and has_prev else None,
    )
