"""Keyset paging over a table inside a purpose."""

from __future__ import annotations

from pathlib import Path

from sandbox_cms.cms import open_sandbox
from sandbox_cms.core.listing import page_rows


def test_pages_filters_and_purpose(db_path: Path):
    with open_sandbox(db_path) as cms, cms.processing("invoicing") as p:
        first = page_rows(p, "invoices", ("id", "number"), limit=3)
        second = page_rows(p, "invoices", ("id", "number"), after=first.next_after, limit=3)
        back = page_rows(p, "invoices", ("id", "number"), before=second.prev_before, limit=3)
        one = page_rows(p, "invoices", ("id", "number"),
                        filters={"number": first.rows[1]["number"]})
    assert first.purpose == "invoicing"
    assert [r["id"] for r in first.rows] == [1, 2, 3] and first.prev_before is None
    assert [r["id"] for r in second.rows] == [4, 5, 6]
    assert back.rows == first.rows
    assert one.rows == [first.rows[1]] and one.next_after is None
