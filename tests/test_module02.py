"""Module 02 (storage and transfers): every graded exercise proven.

The proofs every exercise shares (reference solutions, wrong answers, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py over one registry; this file holds what
is particular to the module. Together they prove:

- the reference solutions (taken from the source notebook) pass the visible and hidden test;
- plausible wrong answers (tests/fixtures/wrong_answers/m02_*.py) fail naming the right
  principle: data kept in NL only, the EEA taken for the EU, the vendor's "EU hosting"
  statement trusted over its sub-processor list, a lapsed or HR-only DPF entry taken as
  valid, SCCs without a transfer impact assessment, consent for a routine transfer, every
  US company adequate, consent in the terms, a derogation before SCCs, the contract
  derogation for a processor;
  a plain file copy, the primary's own data centre, a US bucket without a mechanism, a copy
  beside the primary, a backup without a location, an archive registered for invoices only;
- answers hard-coded to the visible variant fail the hidden test;
- the setup varies what the exercises need (plan, backup locations) between variants;
- the grader really restores: a damaged or a stale backup fails;
- the source notebook is a valid nbgrader source, and nbgrader gives the solution full
  marks and the untouched student version none.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from notebook_tools import (
    cell,
    full_marks_and_none,
    load,
    section,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, run
from grading.exercises.m02_transfer_plan import (
    CASES,
    generate_dossier,
    normalise,
    reference_basis,
    third_country_leg,
)
from grading.harness import close_attempt, open_variant
from sandbox_cms.privacy.storage import load_adequacy

ASSIGNMENT = "02-storage-transfers"


# --- wrong answers --------------------------------------------------------------------

def test_a_wrong_transfer_names_its_article() -> None:
    wrong = wrong_answers("m02_transfer_plan")
    articles = {fn.__name__: run("02-transfer-plan", fn, "visible").violation.article
                for fn in (wrong.us_always_adequate, wrong.consent_in_terms_counts,
                           wrong.contract_for_processors, wrong.must_stay_in_nl,
                           wrong.trusts_eu_hosting_claim, wrong.lapsed_dpf_counts,
                           wrong.scc_without_assessment, wrong.storage_place_only,
                           wrong.consent_for_routine_transfers)}
    assert "2023/1795" in articles["us_always_adequate"]
    assert "2023/1795" in articles["lapsed_dpf_counts"]
    assert "49(1)(a)" in articles["consent_in_terms_counts"]
    assert "49(1)(a)" in articles["consent_for_routine_transfers"]
    assert "recital 111" in articles["contract_for_processors"]
    assert "1(3)" in articles["must_stay_in_nl"]
    assert "onward transfers" in articles["trusts_eu_hosting_claim"]
    assert "Clause 14" in articles["scc_without_assessment"]
    assert "05/2021" in articles["storage_place_only"]


def test_answers_in_other_spellings_are_accepted_and_nonsense_is_not() -> None:
    assert normalise("art. 45") == normalise("Art. 45 GDPR") == "45"
    assert normalise("article 49(1)(a)") == "49(1)(a)"
    assert normalise("eea") == "EEA" and normalise(None) == "missing"
    assert normalise("adequate") is None and normalise(45) is None
    reference = solution("02-transfer-plan")

    def spelled(cms, plan):
        return {n: ("art. " + b if b[0].isdigit() else b) for n, b in reference(cms, plan).items()}

    assert run("02-transfer-plan", spelled, "visible").passed
    def names(dossier):
        return [v["name"] for v in json.loads((Path(dossier) / "vendors.json").read_text())]

    outcome = run("02-transfer-plan", lambda cms, dossier: {n: "ok" for n in names(dossier)})
    assert outcome.principle == "task" and "must be one of" in outcome.message
    outcome = run("02-transfer-plan", lambda cms, dossier: {})
    assert outcome.principle == "task" and "no answer for" in outcome.message


def test_saying_missing_for_a_lawful_transfer_fails() -> None:
    reference = solution("02-transfer-plan")

    def too_strict(cms, plan):
        return {n: ("missing" if b == "45" else b) for n, b in reference(cms, plan).items()}

    outcome = run("02-transfer-plan", too_strict, "visible")
    assert outcome.principle == "transfers" and "it can go lawfully" in outcome.message


# --- hard-coded answers fail the hidden test ------------------------------------------


def test_hard_coded_plan_answer_fails_hidden() -> None:
    attempt = open_variant(get_exercise("02-transfer-plan"), "visible")
    answer = {name: basis for name, (basis, _) in attempt.expected.items()}
    close_attempt(attempt)
    assert run("02-transfer-plan", lambda cms, plan: dict(answer), "visible").passed
    hidden = run("02-transfer-plan", lambda cms, plan: dict(answer), "hidden")
    assert not hidden.passed and hidden.principle == "task", hidden.message


def test_hard_coded_location_and_eu_only_fail_hidden() -> None:
    wrong = wrong_answers("m02_restorable")
    assert run("02-restorable", wrong.hard_coded_frankfurt, "visible").passed
    hidden = run("02-restorable", wrong.hard_coded_frankfurt, "hidden")
    assert not hidden.passed and "backup-frankfurt" in hidden.message, hidden.message

    eu = wrong_answers("m02_transfer_plan").EU

    def eu_only(cms, mounts):
        name = next(loc.name for loc in cms.storage.locations()
                    if loc.kind == "backup" and loc.country in eu - {"NL"}
                    and "contact" in loc.categories)
        manifest = cms.storage.backup(mounts[name], location=name)
        return str(Path(mounts[name]) / manifest.file)

    assert run("02-restorable", eu_only, "visible").passed
    assert not run("02-restorable", eu_only, "hidden").passed  # Oslo is EEA, not EU


# --- the setup and the grader's restore -------------------------------------------------


def test_plans_cover_every_basis_and_differ_between_variants() -> None:
    dossiers = {}
    for variant in ("visible", "hidden"):
        attempt = open_variant(get_exercise("02-transfer-plan"), variant)
        try:
            dossiers[variant] = attempt.context["dossier"]
            folder = Path(attempt.context["folder"])
            assert sorted(p.name for p in folder.iterdir()) == [
                "dpf-list.csv", "subprocessors.csv", "vendors.json"]
            bases = {b for b, _ in attempt.expected.values()}
        finally:
            close_attempt(attempt)
        assert bases == {"EEA", "45", "46", "49(1)(a)", "49(1)(b)", "missing"}
        countries = {v["hosting"]["country"] for v in dossiers[variant]["vendors"]}
        assert {"NL", "CH", "GB", "US"} <= countries and countries & {"NO", "IS", "LI"}
    visible, hidden = dossiers["visible"]["vendors"], dossiers["hidden"]["vendors"]
    assert {v["name"] for v in visible} != {v["name"] for v in hidden}
    assert [v["hosting"] for v in visible] != [v["hosting"] for v in hidden]
    today = dt.date(2026, 12, 1)
    assert generate_dossier(7, today) == generate_dossier(7, today)


def _vendor(**facts):
    base = {"name": "x", "legal_entity": "X Cloud Inc.", "service": "cloud", "role": "processor",
            "pattern": "systematic", "categories": ["contact"],
            "hosting": {"country": "DE", "region": "Frankfurt"}, "support_from": [],
            "statement": "", "scc": None, "tia": None, "consent": None,
            "needed_for_order": False}
    hosting = facts.pop("country", None)
    if hosting:
        base["hosting"] = {"country": hosting, "region": ""}
    return {**base, **facts}


TODAY = dt.date(2026, 12, 1)
SCC = "Decision (EU) 2021/914, module 2"


def _basis(vendor, subs=(), dpf=()):
    dossier = {"vendors": [vendor], "subprocessors": list(subs), "dpf": list(dpf)}
    return reference_basis(vendor, dossier, TODAY)[0]


def _dpf(entity, status="Active", covered="HR; Non-HR", due="2027-06-01"):
    return {"organization": entity, "status": status, "covered_data": covered,
            "certified_since": "2026-06-01", "next_certification_due": due,
            "inactive_since": "" if status == "Active" else "2026-10-01"}


def test_reference_basis_follows_the_storage_check() -> None:
    assert _basis(_vendor(country="NO")) == "EEA"
    assert _basis(_vendor(country="CH")) == "45"
    assert _basis(_vendor(country="GB")) == "45"  # renewed until 27 December 2031
    assert _basis(_vendor(country="BR")) == "45"  # 2026/179, verified
    assert _basis(_vendor(country="US")) == "missing"
    assert _basis(_vendor(country="US"), dpf=[_dpf("X Cloud Inc.")]) == "45"
    assert _basis(_vendor(country="US"), dpf=[_dpf("X Cloud Inc.", covered="Non-HR")]) == "45"
    assert _basis(_vendor(country="US", scc=SCC, tia="2026-01-10")) == "46"
    recipient = _vendor(role="controller", pattern="occasional", country="IN")
    assert _basis({**recipient, "consent": "explicit_informed"}) == "49(1)(a)"
    assert _basis({**recipient, "consent": "in_terms"}) == "missing"
    assert _basis({**recipient, "needed_for_order": True}) == "49(1)(b)"
    assert _basis(_vendor(country="IN", needed_for_order=True)) == "missing"


def test_the_dpf_entry_must_be_active_cover_customer_data_and_name_the_importer() -> None:
    us = _vendor(country="US")
    assert _basis(us, dpf=[_dpf("X Cloud Inc.", status="Inactive", due="2026-09-01")]) == (
        "missing")
    assert _basis(us, dpf=[_dpf("X Cloud Inc.", covered="HR")]) == "missing"
    assert _basis(us, dpf=[_dpf("X Holdings LLC")]) == "missing"  # a namesake, not the vendor
    assert _basis(us, dpf=[_dpf("X Cloud Inc.", due="2026-11-30")]) == "missing"  # past due
    lapsed_with_scc = {**us, "scc": SCC, "tia": "2026-03-01"}
    assert _basis(lapsed_with_scc, dpf=[_dpf("X Cloud Inc.", status="Inactive")]) == "46"


def test_sccs_count_only_with_a_transfer_impact_assessment() -> None:
    assert _basis(_vendor(country="IN", scc=SCC)) == "missing"
    assert _basis(_vendor(country="IN", scc=SCC, tia="2026-11-30")) == "46"
    assert _basis(_vendor(country="IN", scc=SCC, tia="2026-12-02")) == "missing"  # not yet


def test_an_expired_adequacy_decision_no_longer_counts(monkeypatch) -> None:
    """The UK's decision runs until 27 December 2031 (adequacy.toml `expires`): on a clock
    after that date it is no basis, without changing any code."""
    import dataclasses

    from grading.exercises import m02_transfer_plan

    adequacy = load_adequacy()
    gb = {**adequacy.decisions["GB"], "expires": dt.date(2026, 11, 30)}
    doctored = dataclasses.replace(adequacy, decisions={**adequacy.decisions, "GB": gb})
    monkeypatch.setattr(m02_transfer_plan, "load_adequacy", lambda: doctored)
    assert _basis(_vendor(country="GB")) == "missing"
    assert _basis(_vendor(country="GB", scc=SCC, tia="2026-01-10")) == "46"
    assert _basis(_vendor(country="CH")) == "45"


def test_role_and_pattern_are_two_facts() -> None:
    """L6: the pattern (recital 111) decides a derogation, the role does not."""
    base = _vendor(country="IN", needed_for_order=True)
    assert _basis({**base, "role": "processor", "pattern": "occasional"}) == "49(1)(b)"
    assert _basis({**base, "role": "controller", "pattern": "systematic"}) == "missing"
    routine = {**base, "needed_for_order": False, "consent": "explicit_informed"}
    assert _basis(routine) == "missing"  # consent does not carry a routine transfer


def test_remote_access_and_sub_processors_are_transfers() -> None:
    """L7: an EEA region removes the transfer for storage only (EDPB Guidelines 05/2021);
    a sub-processor outside the EEA receives an onward transfer (art. 44)."""
    eu = _vendor(statement="All customer data is hosted in the EU and never leaves it.")
    assert _basis(eu) == "EEA"
    assert _basis({**eu, "support_from": ["DE", "NO"]}) == "EEA"
    assert _basis({**eu, "support_from": ["IN"]}) == "missing"
    assert _basis({**eu, "support_from": ["IN"], "scc": SCC, "tia": "2026-02-01"}) == "46"
    assert _basis({**eu, "support_from": ["JP"]}) == "45"

    def sub(country, safeguard="", tia=""):
        return {"vendor": "x", "subprocessor": "Y Mail Inc.", "service": "e-mail delivery",
                "country": country, "safeguard": safeguard, "tia": tia}

    assert _basis(eu, [sub("IE")]) == "EEA"
    assert _basis(eu, [sub("US")]) == "missing"
    assert _basis(eu, [sub("US")], [_dpf("Y Mail Inc.")]) == "45"
    assert _basis(eu, [sub("US")], [_dpf("X Cloud Inc.")]) == "missing"  # the importer counts
    assert _basis(eu, [sub("US", SCC, "2026-05-05")]) == "46"
    assert _basis({**eu, "scc": SCC, "tia": "2026-05-05"}, [sub("US")]) == "missing"


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_every_dossier_holds_the_boundary_cases(variant: str) -> None:
    attempt = open_variant(get_exercise("02-transfer-plan"), variant)
    try:
        dossier, expected = attempt.context["dossier"], attempt.expected
    finally:
        close_attempt(attempt)
    _assert_boundaries(dossier, {n: b for n, (b, _) in expected.items()})


def _assert_boundaries(dossier, expected) -> None:
    eea = load_adequacy().eea
    vendors = dossier["vendors"]
    dpf = {r["organization"]: r for r in dossier["dpf"]}

    def having(**facts):
        return [v for v in vendors if all(v[k] == x for k, x in facts.items())]

    def bases(group):
        return {expected[v["name"]] for v in group}

    occ_processor = having(role="processor", pattern="occasional", needed_for_order=True)
    sys_controller = having(role="controller", pattern="systematic", needed_for_order=True)
    assert occ_processor and bases(occ_processor) == {"49(1)(b)"}
    assert sys_controller and bases(sys_controller) == {"missing"}
    routine_consent = having(pattern="systematic", consent="explicit_informed")
    assert routine_consent and bases(routine_consent) == {"missing"}
    legs = {v["name"]: third_country_leg(v, dossier) for v in vendors}
    # hosted in the EEA with an "EU hosting" statement, but a leg abroad
    claimed = [v for v in vendors if v["statement"] and v["hosting"]["country"] in eea]
    assert {legs[v["name"]].via for v in claimed} == {"support", "sub-processor"}
    assert bases(claimed) == {"45", "46", "missing"}
    # the DPF boundaries: active, lapsed, HR only, a namesake, each with its answer
    us = [v for v in vendors if legs[v["name"]] and legs[v["name"]].country == "US"]
    statuses = {(dpf[legs[v["name"]].importer]["status"] if legs[v["name"]].importer in dpf
                 else "absent", expected[v["name"]]) for v in us}
    assert {("Active", "45"), ("Inactive", "missing"), ("Inactive", "46"),
            ("absent", "46")} <= statuses
    assert any(r["covered_data"] == "HR" and r["organization"] in
               {legs[v["name"]].importer for v in us} for r in dossier["dpf"])
    # SCCs without an assessment; Switzerland and the UK adequate
    no_tia = [v for v in vendors if v["scc"] and not v["tia"]]
    assert no_tia and bases(no_tia) == {"missing"}
    for country in ("CH", "GB"):
        assert bases(having(hosting={"country": country,
                                     "region": "Zurich" if country == "CH" else "London"})
                     ) == {"45"}
    assert sum(1 for leg in legs.values() if leg is None) == 3


@pytest.mark.parametrize("seed", [1, 99, 123456, 20131001])
def test_any_seed_plants_every_case(seed: int) -> None:
    dossier = generate_dossier(seed, TODAY)
    assert len(dossier["vendors"]) == len(CASES)
    assert {(v["role"], v["pattern"]) for v in dossier["vendors"]} == {
        ("processor", "systematic"), ("processor", "occasional"),
        ("controller", "systematic"), ("controller", "occasional")}
    expected = {v["name"]: reference_basis(v, dossier, TODAY)[0] for v in dossier["vendors"]}
    _assert_boundaries(dossier, expected)
    eea = load_adequacy().eea
    for v in dossier["vendors"]:  # at most one third country per vendor
        places = {v["hosting"]["country"], *v["support_from"]} | {
            s["country"] for s in dossier["subprocessors"] if s["vendor"] == v["name"]}
        assert len(places - eea) <= 1, v["name"]


@pytest.mark.parametrize("name", ["processor_means_systematic", "storage_place_only",
                                  "must_stay_in_nl", "us_always_adequate",
                                  "contract_for_processors", "consent_in_terms_counts",
                                  "trusts_eu_hosting_claim", "lapsed_dpf_counts",
                                  "consent_for_routine_transfers"])
def test_wrong_transfer_answers_fail_the_hidden_variant_too(name: str) -> None:
    outcome = run("02-transfer-plan", getattr(wrong_answers("m02_transfer_plan"), name), "hidden")
    assert not outcome.passed and outcome.principle in ("transfers", "free_movement"), (
        outcome.message)


def test_backup_locations_differ_between_variants() -> None:
    names = {}
    for variant in ("visible", "hidden"):
        attempt = open_variant(get_exercise("02-restorable"), variant)
        try:
            backups = [loc for loc in attempt.cms.storage.locations() if loc.kind == "backup"]
            names[variant] = {loc.name for loc in backups}
            assert set(attempt.context["mounts"]) == names[variant]
            assert all(Path(p).is_dir() for p in attempt.context["mounts"].values())
        finally:
            close_attempt(attempt)
    assert "backup-frankfurt" in names["visible"] and "backup-frankfurt" not in names["hidden"]
    assert names["visible"] != names["hidden"]
    assert any(name.endswith("-archive") for name in names["hidden"])


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_backup_boundaries_are_planted_and_judged(variant: str) -> None:
    """Same country, other region passes (the rule is 'not the primary's data centre'); the
    same data centre fails; a copy that misses one table fails the restore."""
    attempt = open_variant(get_exercise("02-restorable"), variant)
    try:
        backups = {loc.name: loc for loc in attempt.cms.storage.locations()
                   if loc.kind == "backup"}
    finally:
        close_attempt(attempt)
    assert (backups["backup-groningen"].country,
                                   backups["backup-groningen"].region) == ("NL", "Groningen")
    assert any((loc.country, loc.region) == ("NL", "Amsterdam") for loc in backups.values())

    def groningen(cms, mounts):
        manifest = cms.storage.backup(mounts["backup-groningen"], location="backup-groningen")
        return str(Path(mounts["backup-groningen"]) / manifest.file)

    assert run("02-restorable", groningen, variant).passed
    wrong = wrong_answers("m02_restorable")
    assert run("02-restorable", wrong.not_in_the_primary_country, variant).passed
    outcome = run("02-restorable", wrong.without_the_consents, variant)
    assert outcome.principle == "restorability" and "consent_events" in outcome.message

    def same_data_centre(cms, mounts):
        name = next(loc.name for loc in cms.storage.locations() if loc.kind == "backup"
                    and (loc.country, loc.region) == ("NL", "Amsterdam"))
        manifest = cms.storage.backup(mounts[name], location=name)
        return str(Path(mounts[name]) / manifest.file)

    outcome = run("02-restorable", same_data_centre, variant)
    assert outcome.principle == "restorability" and "32(1)(c)/(d)" in outcome.message


@pytest.mark.parametrize("seed", [None, 4242, 7, 31337])
def test_any_seed_gets_every_kind_of_backup_location(seed) -> None:
    from grading.exercises.m02_restorable import backup_locations

    places = backup_locations(seed)
    eea = load_adequacy().eea
    assert ("NL", "Amsterdam") in {(c, r) for _, c, r, _, _ in places}
    assert ("NL", "Groningen") in {(c, r) for _, c, r, _, _ in places}
    assert any(c not in eea for _, c, _, _, _ in places)
    assert any(c in eea and "contact" not in cats for _, c, _, cats, _ in places)
    assert any(c in eea and c != "NL" and "contact" in cats for _, c, _, cats, _ in places)


def test_a_damaged_backup_fails_the_restore() -> None:
    reference = solution("02-restorable")

    def damaged(cms, mounts):
        path = Path(reference(cms, mounts))
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return str(path)

    outcome = run("02-restorable", damaged, "visible")
    assert outcome.principle == "restorability" and "does not verify" in outcome.message


def test_a_stale_backup_fails_the_comparison() -> None:
    reference = solution("02-restorable")

    def stale(cms, mounts):
        path = reference(cms, mounts)
        with cms.processing("newsletter") as p:  # the shop goes on after the backup
            cid = p.query("SELECT id FROM customers ORDER BY id LIMIT 1")[0]["id"]
        cms.consent.record(cid, "newsletter", "granted", text_version="newsletter-v2",
                           method="separate_checkbox", channel="web")
        return path

    outcome = run("02-restorable", stale, "visible")
    assert outcome.principle == "restorability", outcome.message
    assert "consent_events" in outcome.message


# --- the source notebook ----------------------------------------------------------------


def test_the_law_cell_cites_then_and_now() -> None:
    nb = load(source_notebook(ASSIGNMENT))
    for c in nb.cells:
        if c.cell_type == "markdown" and "Principle:" in c.source:
            assert "art." in c.source, c.source[:80]
    law = section(nb, "m02-law")
    for cited in ("art. 76", "art. 77(1)(a)", "art. 77(1)(b)", "art. 77(2)", "art. 1(3)",
                  "art. 44", "art. 45", "art. 46", "art. 49(1)(a)", "art. 49(1)(b)",
                  "recital 111", "2021/914", "2023/1795", "Iceland, Liechtenstein and Norway",
                  "C-362/14", "C-311/18", "32(1)(c)", "compresses"):
        assert cited in law, cited


# --- the notebook itself, graded by nbgrader ------------------------------------------------


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    # two exercises, visible + hidden
    student, text = full_marks_and_none(ASSIGNMENT, tmp_path, monkeypatch,
                                        written="m02-ex3-answer", automatic=4)
    assert "cms.storage.backup(mounts[name], location=name)" in text  # the instructions stay
    assert "def suitable(loc)" not in text  # the solutions do not
    assert "Rubric" not in cell(student, "m02-ex3-answer").source
