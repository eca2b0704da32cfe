"""Keyset paging over a table, read inside a purpose: the orders and invoices lists.

Rows come in id order, ``after``/``before`` an id, so every page costs the same however far
into the table it is. Filters are equality tests on named columns, always as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    purpose: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    next_after: int | None
    prev_before: int | None


def page_rows(processing: Any, table: str, columns: tuple[str, ...], *,
              filters: dict[str, Any] | None = None, after: int | None = None,
              before: int | None = None, limit: int = PAGE_SIZE) -> Page:
    """One page of ``table`` (which must have an ``id``) read through ``processing``.

    ``table``, ``columns`` and filter names come from code, never from a request; filter
    values and ids are bound as parameters.
    """
    where, params = [], []
    for column, value in (filters or {}).items():
        where.append(f"{column} = ?")
        params.append(value)
    if before is not None:
        where.append("id < ?")
        params.append(before)
        order = "DESC"
    else:
        if after is not None:
            where.append("id > ?")
            params.append(after)
        order = "ASC"
    sql = (f"SELECT {', '.join(columns)} FROM {table}"
           f"{' WHERE ' + ' AND '.join(where) if where else ''}"
           f" ORDER BY id {order} LIMIT ?")
    rows, next_after, prev_before = keyset_window(
        processing.query(sql, [*params, limit + 1]), limit, after, before)
    return Page(purpose=processing.name or "", columns=columns, rows=rows,
                next_after=next_after, prev_before=prev_before)


def keyset_window(rows: list[dict[str, Any]], limit: int, after: int | None,
                  before: int | None) -> tuple[list[dict[str, Any]], int | None, int | None]:
    """Turn ``limit + 1`` rows fetched after/before an id into (page rows in id order,
    the id to page forward from, the id to page back from); None where there is no page."""
    more = len(rows) > limit
    rows = rows[:limit]
    if before is not None:
        rows.reverse()
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, after is not None
    return (rows, rows[-1]["id"] if rows and has_next else None,
            rows[0]["id"] if rows and has_prev else None)
