"""The generator: only clearly fictional values, deterministic, and true to the scenario."""

import re

import pytest

from sandbox_cms.data.guard import iban_is_valid
from sandbox_cms.data.scenario import load_scenario
from sandbox_cms.data.synth import EMAIL_DOMAINS, FICTIONAL_BANK_CODES, generate


def _rows(scenario="webshop", customers=3000, seed=None):
    spec = load_scenario(scenario).with_overrides(customers=customers, seed=seed)
    tables: dict[str, list[tuple]] = {}
    for chunk in generate(spec):
        for name, rows in chunk.tables().items():
            tables.setdefault(name, []).extend(rows)
    return spec, tables


def test_values_are_clearly_fictional():
    _, t = _rows()
    for c in t["customers"]:
        email, iban, company = c[3], c[11], c[12]
        assert email.rsplit("@", 1)[1] in EMAIL_DOMAINS
        if iban:
            assert iban_is_valid(iban) and iban[4:8] in FICTIONAL_BANK_CODES
        if company:
            assert re.search(r"(Stuiterwerk|Veerkracht|Springpret|Zweefhuis|Hupsakee)", company)
    assert len({c[3] for c in t["customers"]}) == len(t["customers"])  # e-mail is unique


def test_same_seed_same_rows_other_seed_other_rows():
    assert _rows(seed=7)[1] == _rows(seed=7)[1]
    assert _rows(seed=7)[1]["customers"] != _rows(seed=8)[1]["customers"]


def test_dates_come_from_the_scenario_calendar():
    spec, t = _rows()
    start, end, now = (d.isoformat() for d in (spec.start, spec.end, spec.now))
    for order in t["orders"]:
        assert start <= order[2][:10] <= end
    for event in t["consent_events"]:
        assert start <= event[4][:10] <= now


def _four_sigma(rate: float, n: int) -> float:
    """Four standard deviations of a share of ``n`` draws with probability ``rate``: a
    generator that ignores the rate fails, chance alone does not (the seed is fixed anyway)."""
    return 4 * (rate * (1 - rate) / n) ** 0.5


@pytest.mark.parametrize("scenario", ["webshop", "ebooks"])
def test_repeat_buyer_rate_is_honoured(scenario):
    spec, t = _rows(scenario, customers=8000)
    per_customer: dict[int, int] = {}
    for order in t["orders"]:
        per_customer[order[1]] = per_customer.get(order[1], 0) + 1
    assert len(per_customer) == spec.customers  # everybody bought something
    repeat = sum(1 for n in per_customer.values() if n > 1) / spec.customers
    rate = spec.repeat_buyer_rate
    assert repeat == pytest.approx(rate, abs=_four_sigma(rate, spec.customers))
    assert max(per_customer.values()) <= spec.max_orders


@pytest.mark.parametrize("scenario", ["webshop", "ebooks"])
def test_consent_rates_are_honoured(scenario):
    spec, t = _rows(scenario, customers=8000)
    for question in spec.consents:
        events = [e for e in t["consent_events"] if e[2] == question.purpose]
        granted = {e[1] for e in events if e[3] == "granted"}
        withdrawn = {e[1] for e in events if e[3] == "withdrawn"}
        grant, withdraw = question.grant_rate, question.withdraw_rate
        assert len(granted) / spec.customers == pytest.approx(
            grant, abs=_four_sigma(grant, spec.customers))
        assert len(withdrawn) / len(granted) == pytest.approx(
            withdraw, abs=_four_sigma(withdraw, len(granted)))
        assert withdrawn <= granted
        methods = {e[6] for e in events}
        assert methods == set(question.methods)


def test_consent_text_version_is_the_one_published_at_the_time():
    spec, t = _rows("webshop")
    published = {tx.version: tx.published_at.isoformat() for tx in spec.consent_texts}
    versions_used = set()
    for event in t["consent_events"]:
        assert published[event[5]] <= event[4][:10]
        versions_used.add(event[5])
    assert versions_used == {"newsletter-v1", "newsletter-v2"}
