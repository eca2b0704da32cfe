"""The customer directory from Python: one purpose, keyset pages, indexed prefix search."""

from __future__ import annotations

import pytest

from sandbox_cms.privacy.directory import (
    LIST_PURPOSE,
    SearchTooLong,
    UnknownSearchField,
    list_customers,
    prefix_bounds,
)


def test_prefix_bounds_cover_exactly_the_prefix():
    lo, hi = prefix_bounds("de")
    assert lo <= "de Vries" < hi and lo <= "de" < hi
    assert not lo <= "df" < hi and not lo <= "dd" < hi


def test_pages_follow_each_other_without_gaps(cms):
    first = list_customers(cms, limit=10)
    second = list_customers(cms, after=first.next_after, limit=10)
    assert [r["id"] for r in first.rows] == list(range(1, 11))
    assert [r["id"] for r in second.rows] == list(range(11, 21))
    assert list_customers(cms, before=second.prev_before, limit=10).rows == first.rows
    assert first.prev_before is None


def test_each_page_is_read_under_the_list_purpose_and_audited(cms):
    page = list_customers(cms, limit=5, actor="web")
    entry = cms.audit.entries(purpose=LIST_PURPOSE, newest_first=True, limit=1)[0]
    assert entry.actor == "web" and entry.action == "read"
    assert {r["id"] for r in page.rows} <= set(entry.row_ids)


def test_search_by_email_is_chosen_for_an_address(cms):
    with cms.processing("customer_service") as p:
        email = p.query("SELECT email FROM customers WHERE id = 9")[0]["email"]
    page = list_customers(cms, search=email.upper())
    assert page.by == "email" and [r["id"] for r in page.rows] == [9]


def test_search_refusals(cms):
    with pytest.raises(SearchTooLong):
        list_customers(cms, search="x" * 101)
    with pytest.raises(UnknownSearchField, match="last_name or email"):
        list_customers(cms, search="a", by="iban")
