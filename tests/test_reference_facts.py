"""Facts that change are dated data, and no grader or notebook asserts an unverified one.

- every dated fact (``datasets/reference/dated_facts.toml``) and every adequacy entry carries a
  source, a date and a verified mark;
- 02-transfer-plan asserts a country as "adequate" or "not adequate" only when the reference
  data has a *verified* entry for it (a decision, or a checked absence), for the visible and
  hidden plans, for any seed and for every country it may draw;
- a course notebook that states an unverified fact says so in the same cell;
- the checks themselves can fail: doctored reference data is caught.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from grading import get_exercise
from grading.exercises import m02_transfer_plan as plan_exercise
from grading.harness import close_attempt, open_variant
from sandbox_cms.data.reference import load_dated_facts
from sandbox_cms.privacy.storage import ADEQUACY_FILE, Adequacy, load_adequacy

REPO = Path(__file__).resolve().parent.parent


def unverified_assertions(adequacy: Adequacy, countries: Iterable[str]) -> list[str]:
    """The countries outside the EEA on which a grader would assert something the reference
    data does not back with a verified entry."""
    problems = []
    for country in sorted(set(countries) - adequacy.eea):
        if country in adequacy.decisions:
            if adequacy.decisions[country].get("verified") is not True:
                problems.append(f"{country}: its adequacy decision is not verified")
        elif country not in adequacy.no_decision:
            problems.append(f"{country}: no verified entry says it has no adequacy decision")
    return problems


def plan_countries(dossier: dict) -> set[str]:
    """Every country a vendor dossier names: hosting, support sites, sub-processors."""
    return ({c for v in dossier["vendors"] for c in [v["hosting"]["country"], *v["support_from"]]}
            | {s["country"] for s in dossier["subprocessors"]})


def pool_countries() -> set[str]:
    pools = (plan_exercise.ADEQUATE, plan_exercise.US, plan_exercise.NO_DECISION,
             plan_exercise.CH, plan_exercise.GB)
    return {country for pool in pools for country in pool}


# --- the reference data is dated --------------------------------------------------------


def test_every_adequacy_entry_is_dated_and_marked() -> None:
    adequacy = load_adequacy()
    for country, entry in adequacy.decisions.items():
        assert isinstance(entry.get("verified"), bool), country
        assert entry.get("checked") is not None, country
    assert adequacy.retrieved.isoformat() >= "2026-12-01"
    assert "2026/179" in adequacy.decisions["BR"]["decision"]  # no longer "no decision"
    assert "BR" not in plan_exercise.NO_DECISION


def test_every_dated_fact_has_a_source_a_date_and_a_mark() -> None:
    facts = load_dated_facts()
    assert {"cbp_av23", "minister_answer_brein", "edpb_05_2020_paragraphs", "latombe",
            "uk_renewal", "brazil_adequacy"} <= set(facts)
    for fact in facts.values():
        assert fact.source and fact.retrieved.year >= 2026 and isinstance(fact.verified, bool)
        for path in fact.used_in:
            assert (REPO / path).is_file(), path


# --- graders assert only verified facts -------------------------------------------------


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_transfer_plan_asserts_only_verified_adequacy_facts(variant: str) -> None:
    attempt = open_variant(get_exercise("02-transfer-plan"), variant)
    try:
        countries = plan_countries(attempt.context["dossier"])
    finally:
        close_attempt(attempt)
    assert unverified_assertions(load_adequacy(), countries) == []


def test_every_country_the_plan_may_draw_is_backed_by_a_verified_entry() -> None:
    assert unverified_assertions(load_adequacy(), pool_countries()) == []
    for seed in (1, 2, 3, 4242, 20131001):
        assert unverified_assertions(load_adequacy(),
                                     plan_countries(plan_exercise.generate_dossier(
                                         seed, dt.date(2026, 12, 1)))) == []


def test_the_check_fails_on_an_unverified_decision_or_an_unchecked_absence(tmp_path) -> None:
    adequacy = load_adequacy()
    doctored = dataclasses.replace(
        adequacy,
        decisions={**adequacy.decisions, "BR": {**adequacy.decisions["BR"], "verified": False}},
        no_decision=adequacy.no_decision - {"IN"},
    )
    problems = unverified_assertions(doctored, pool_countries())
    assert any(p.startswith("BR:") for p in problems)
    assert any(p.startswith("IN:") for p in problems)
    # and the file itself: an unchecked no_decision list asserts nothing
    text = ADEQUACY_FILE.read_text(encoding="utf-8").replace(
        "verified = true\nchecked = 2026-12-01\nsource = \"\"\"None of these",
        "verified = false\nchecked = 2026-12-01\nsource = \"\"\"None of these")
    (tmp_path / "adequacy.toml").write_text(text, encoding="utf-8")
    assert load_adequacy(tmp_path / "adequacy.toml").no_decision == frozenset()


# --- notebooks mark what is unverified ----------------------------------------------------


def unmarked_statements(cells: Iterable[str], cite: str, caveat: Iterable[str]) -> list[str]:
    """Cells that state a fact (contain ``cite``) without one of its caveat words."""
    words = [w.lower() for w in caveat]
    return [text[:80] for text in cells
            if cite in text and not any(w in text.lower() for w in words)]


def _cells(path: str) -> list[str]:
    nb = json.loads((REPO / path).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"]]


@pytest.mark.parametrize("key", sorted(load_dated_facts()))
def test_notebooks_mark_unverified_facts_and_state_verified_ones(key: str) -> None:
    fact = load_dated_facts()[key]
    for path in fact.used_in:
        cells = _cells(path)
        assert any(fact.cite in text for text in cells), f"{path} never states {key}"
        if not fact.verified:
            assert unmarked_statements(cells, fact.cite, fact.caveat) == [], path


def test_the_notebook_check_can_fail() -> None:
    cells = ["CBP, *Achtergrondstudies en Verkenningen 23* (2001)"]
    assert unmarked_statements(cells, "Achtergrondstudies en Verkenningen 23", ["unverified"])
    cells = ["CBP, *Achtergrondstudies en Verkenningen 23* (2001, year unverified)"]
    assert not unmarked_statements(cells, "Achtergrondstudies en Verkenningen 23",
                                   ["unverified"])
