"""The customer directory: a paged, searchable list of customers, read under one purpose.

A list shows only what a list needs (who is this, how to reach them), read through
``cms.processing(LIST_PURPOSE)`` so every page viewed is in the audit log. Search is a prefix
of the last name (case-insensitive) or of the e-mail address. Paging is by keyset: the list
in id order, a search in the order of its index (last name or e-mail, then id), continuing
from the last row shown (``after``) or before the first (``before``). So every page, however
deep and however many customers match, reads only one page of index entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox_cms.core.errors import SandboxError
from sandbox_cms.core.listing import keyset_window

LIST_PURPOSE = "customer_service"
LIST_COLUMNS = ("id", "first_name", "last_name", "email", "city")
PAGE_SIZE = 50
MAX_SEARCH = 100
# Search field -> the indexed sort key it uses (see schema.INDEXES).
SEARCH_KEYS = {"last_name": "last_name COLLATE NOCASE", "email": "email"}


class SearchTooLong(SandboxError):
    """A search term is longer than a last name or e-mail prefix can be."""


class UnknownSearchField(SandboxError):
    """A search names a field the directory cannot search by."""


@dataclass(frozen=True)
class CustomerPage:
    """One page of the list: the purpose it was read under, its rows and the keyset links."""

    purpose: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    search: str
    by: str
    next_after: int | None
    prev_before: int | None


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """The half-open range [lo, hi) of strings that start with ``prefix``."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def search_field(search: str, by: str | None) -> str:
    """The field to search: as asked, or the e-mail address when the term holds an '@'."""
    if by is None:
        return "email" if "@" in search else "last_name"
    if by not in SEARCH_KEYS:
        raise UnknownSearchField(f"search by {' or '.join(SEARCH_KEYS)}, not {by!r}")
    return by


def list_customers(cms: Any, *, search: str = "", by: str | None = None,
                   after: int | None = None, before: int | None = None,
                   limit: int = PAGE_SIZE, purpose: str = LIST_PURPOSE,
                   actor: str = "learner") -> CustomerPage:
    """A page of customers, optionally those whose last name or e-mail starts with ``search``."""
    search = search.strip()
    if len(search) > MAX_SEARCH:
        raise SearchTooLong(f"a search term has at most {MAX_SEARCH} characters")
    field = search_field(search, by)
    with cms.processing(purpose, actor=actor) as p:
        if search:
            rows = _search_page(p, field, search, after, before, limit + 1)
        else:
            rows = _id_page(p, after, before, limit + 1)
    rows, next_after, prev_before = keyset_window(rows, limit, after, before)
    return CustomerPage(
        purpose=purpose, columns=LIST_COLUMNS, rows=rows, search=search, by=field,
        next_after=next_after, prev_before=prev_before,
    )


_COLUMNS = ", ".join(LIST_COLUMNS)


def _id_page(p: Any, after: int | None, before: int | None, limit: int) -> list[dict]:
    if before is not None:
        return p.query(f"SELECT {_COLUMNS} FROM customers WHERE id < ? "
                       "ORDER BY id DESC LIMIT ?", (before, limit))
    return p.query(f"SELECT {_COLUMNS} FROM customers WHERE id > ? ORDER BY id LIMIT ?",
                   (after or 0, limit))


def _search_page(p: Any, field: str, search: str, after: int | None, before: int | None,
                 limit: int) -> list[dict]:
    key = SEARCH_KEYS[field]
    term = search.lower() if field == "email" else search
    lo, hi = prefix_bounds(term)
    where = [f"{key} >= :lo", f"{key} < :hi"]
    params: dict[str, Any] = {"lo": lo, "hi": hi, "limit": limit}
    order = "ASC"
    edge = after if before is None else before
    if edge is not None:
        found = p.query(f"SELECT {field} AS k FROM customers WHERE id = ?", (edge,))
        if found:
            params["k"], params["edge"] = found[0]["k"], edge
            if before is None:  # the bound on the key alone lets the index range start there
                where += [f"{key} >= :k", f"({key}, id) > (:k, :edge)"]
            else:
                where += [f"{key} <= :k", f"({key}, id) < (:k, :edge)"]
                order = "DESC"
    return p.query(f"SELECT {_COLUMNS} FROM customers WHERE {' AND '.join(where)} "
                   f"ORDER BY {key} {order}, id {order} LIMIT :limit", params)
