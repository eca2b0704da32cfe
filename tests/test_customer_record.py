"""A customer record opened under a purpose: only that purpose's columns, refusals."""

from __future__ import annotations

import pytest

from sandbox_cms.core.errors import UnknownPurpose
from sandbox_cms.privacy.customer_record import (
    CustomerNotFound,
    RecordRefused,
    customer_exists,
    open_record,
    purpose_columns,
)


def test_columns_follow_the_register(cms):
    newsletter = cms.register.purpose("newsletter")
    assert set(purpose_columns(newsletter, "customers")) == {"id", "first_name", "email"}
    assert purpose_columns(newsletter, "orders") == ()
    record = open_record(cms, 4, "newsletter")
    assert [s.table for s in record.sections][0] == "customers"
    assert set(record.sections[0].rows[0]) == {"id", "first_name", "email"}


def test_every_section_is_audited_under_the_purpose(cms):
    open_record(cms, 4, "warranty", actor="web")
    entries = cms.audit.entries(purpose="warranty", customer_id=4)
    assert entries and all(e.actor == "web" for e in entries)


def test_refusals(cms):
    with pytest.raises(RecordRefused, match="internal"):
        open_record(cms, 4, "dsr_access")
    with pytest.raises(CustomerNotFound):
        open_record(cms, 10**9, "customer_service")
    with pytest.raises(UnknownPurpose):
        open_record(cms, 4, "curiosity")
    assert customer_exists(cms, 4) and not customer_exists(cms, 10**9)
