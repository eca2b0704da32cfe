"""Module 02 (storage and transfers): every graded exercise proven.

The proofs every exercise shares (reference solutions, wrong answers, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py over one registry; this file holds what
is particular to the module. Together they prove:

- the reference solutions (taken from the source notebook) pass the visible and hidden test;
- plausible wrong answers (tests/fixtures/wrong_answers/m02_*.py) fail naming the right
  principle: data kept in NL only, the EEA taken for the EU, every US company adequate,
  consent in the terms, a derogation before SCCs, the contract derogation for a processor;
  a plain file copy, the primary's own data centre, a US bucket without a mechanism, a copy
  beside the primary, a backup without a location, an archive registered for invoices only;
- answers hard-coded to the visible variant fail the hidden test;
- the setup varies what the exercises need (plan, backup locations) between variants;
- the grader really restores: a damaged or a stale backup fails;
- the source notebook is a valid nbgrader source, and nbgrader gives the solution full
  marks and the untouched student version none.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_tools import (
    HIDDEN_BEGIN,
    autograde_solution_and_untouched,
    autograded,
    cell,
    errors_outside_tests,
    load,
    points,
    release,
    solution,
    source_notebook,
    wrong_answers,
)

from grading import get_exercise, run
from grading.exercises.m02_transfer_plan import generate_plan, normalise, reference_basis
from grading.harness import close_attempt, open_variant
from sandbox_cms.privacy.storage import load_adequacy

ASSIGNMENT = "02-storage-transfers"


# --- wrong answers --------------------------------------------------------------------

def test_a_wrong_transfer_names_its_article() -> None:
    wrong = wrong_answers("m02_transfer_plan")
    articles = {fn.__name__: run("02-transfer-plan", fn, "visible").violation.article
                for fn in (wrong.us_always_adequate, wrong.consent_in_terms_counts,
                           wrong.contract_for_processors, wrong.must_stay_in_nl)}
    assert "2023/1795" in articles["us_always_adequate"]
    assert "49(1)(a)" in articles["consent_in_terms_counts"]
    assert "recital 111" in articles["contract_for_processors"]
    assert "1(3)" in articles["must_stay_in_nl"]


def test_answers_in_other_spellings_are_accepted_and_nonsense_is_not() -> None:
    assert normalise("art. 45") == normalise("Art. 45 GDPR") == "45"
    assert normalise("article 49(1)(a)") == "49(1)(a)"
    assert normalise("eea") == "EEA" and normalise(None) == "missing"
    assert normalise("adequate") is None and normalise(45) is None
    reference = solution("02-transfer-plan")

    def spelled(cms, plan):
        return {n: ("art. " + b if b[0].isdigit() else b) for n, b in reference(cms, plan).items()}

    assert run("02-transfer-plan", spelled, "visible").passed
    outcome = run("02-transfer-plan", lambda cms, plan: {v["name"]: "ok" for v in plan})
    assert outcome.principle == "task" and "must be one of" in outcome.message
    outcome = run("02-transfer-plan", lambda cms, plan: {})
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
    plans = {}
    for variant in ("visible", "hidden"):
        attempt = open_variant(get_exercise("02-transfer-plan"), variant)
        try:
            plans[variant] = attempt.context["plan"]
            bases = {b for b, _ in attempt.expected.values()}
        finally:
            close_attempt(attempt)
        assert bases == {"EEA", "45", "46", "49(1)(a)", "49(1)(b)", "missing"}
        countries = {v["country"] for v in plans[variant]}
        assert "NL" in countries and countries & {"NO", "IS", "LI"}
    assert {v["name"] for v in plans["visible"]} != {v["name"] for v in plans["hidden"]}
    assert [v["country"] for v in plans["visible"]] != [v["country"] for v in plans["hidden"]]
    assert generate_plan(7) == generate_plan(7)


def test_reference_basis_follows_the_storage_check() -> None:
    base = {"name": "x", "role": "processor", "pattern": "systematic", "region": "",
            "categories": ["contact"], "dpf_certified": False, "safeguard": None,
            "consent": None, "needed_for_contract": False, "remote_access": []}
    assert reference_basis({**base, "country": "NO"})[0] == "EEA"
    assert reference_basis({**base, "country": "CH"})[0] == "45"
    assert reference_basis({**base, "country": "BR"})[0] == "45"  # 2026/179, verified
    assert reference_basis({**base, "country": "US"})[0] == "missing"
    assert reference_basis({**base, "country": "US", "dpf_certified": True})[0] == "45"
    assert reference_basis({**base, "country": "US", "safeguard": "scc"})[0] == "46"
    recipient = {**base, "role": "controller", "pattern": "occasional", "country": "IN"}
    assert reference_basis({**recipient, "consent": "explicit_informed"})[0] == "49(1)(a)"
    assert reference_basis({**recipient, "consent": "in_terms"})[0] == "missing"
    assert reference_basis({**recipient, "needed_for_contract": True})[0] == "49(1)(b)"
    assert reference_basis({**base, "country": "IN", "needed_for_contract": True})[0] == (
        "missing")


def test_role_and_pattern_are_two_facts() -> None:
    """L6: the pattern (recital 111) decides a derogation, the role does not."""
    base = {"name": "x", "region": "", "categories": ["address"], "dpf_certified": False,
            "safeguard": None, "consent": None, "needed_for_contract": True,
            "remote_access": [], "country": "IN"}
    occasional_processor = {**base, "role": "processor", "pattern": "occasional"}
    systematic_controller = {**base, "role": "controller", "pattern": "systematic"}
    assert reference_basis(occasional_processor)[0] == "49(1)(b)"
    assert reference_basis(systematic_controller)[0] == "missing"


def test_remote_access_from_a_third_country_is_a_transfer() -> None:
    """L7: an EEA region removes the transfer for storage only."""
    base = {"name": "x", "role": "processor", "pattern": "systematic", "region": "Frankfurt",
            "categories": ["contact"], "dpf_certified": False, "safeguard": None,
            "consent": None, "needed_for_contract": False, "country": "DE"}
    assert reference_basis({**base, "remote_access": []})[0] == "EEA"
    assert reference_basis({**base, "remote_access": ["NO"]})[0] == "EEA"
    assert reference_basis({**base, "remote_access": ["IN"]})[0] == "missing"
    assert reference_basis({**base, "remote_access": ["IN"], "safeguard": "scc"})[0] == "46"
    assert reference_basis({**base, "remote_access": ["JP"]})[0] == "45"


@pytest.mark.parametrize("variant", ["visible", "hidden"])
def test_every_plan_holds_the_boundary_cases(variant: str) -> None:
    attempt = open_variant(get_exercise("02-transfer-plan"), variant)
    try:
        plan, expected = attempt.context["plan"], attempt.expected
    finally:
        close_attempt(attempt)
    eea = load_adequacy().eea

    def having(**facts):
        return [v for v in plan if all(v[k] == x for k, x in facts.items())]

    occ_processor = having(role="processor", pattern="occasional", needed_for_contract=True)
    sys_controller = having(role="controller", pattern="systematic", needed_for_contract=True)
    assert occ_processor and {expected[v["name"]][0] for v in occ_processor} == {"49(1)(b)"}
    assert sys_controller and {expected[v["name"]][0] for v in sys_controller} == {"missing"}
    remote = [v for v in plan if v["country"] in eea and v["remote_access"]]
    assert len(remote) == 2 and all(set(v["remote_access"]) - eea for v in remote)
    assert {expected[v["name"]][0] for v in remote} == {"46", "missing"}


@pytest.mark.parametrize("seed", [1, 99, 123456, 20131001])
def test_any_seed_plants_every_case(seed: int) -> None:
    plan = generate_plan(seed)
    assert {(v["role"], v["pattern"]) for v in plan} == {
        ("processor", "systematic"), ("processor", "occasional"),
        ("controller", "systematic"), ("controller", "occasional")}
    assert sum(1 for v in plan if v["remote_access"]) == 2


@pytest.mark.parametrize("name", ["processor_means_systematic", "storage_place_only",
                                  "must_stay_in_nl", "us_always_adequate",
                                  "contract_for_processors", "consent_in_terms_counts"])
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
    law = cell(nb, "m02-law").source
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
    monkeypatch.delenv("PRIVACY_COURSE_PROGRESS", raising=False)
    scores = autograde_solution_and_untouched(ASSIGNMENT, tmp_path / "classroom")
    graded = points(load(source_notebook(ASSIGNMENT)))
    automatic = {gid for gid in graded if gid != "m02-ex3-answer"}
    assert len(automatic) == 4  # two exercises, visible + hidden
    for gid in automatic:
        assert scores["solution"][gid] == graded[gid], (gid, scores["solution"])
        assert scores["untouched"][gid] == 0, (gid, scores["untouched"])
    assert scores["solution"]["m02-ex3-answer"] == 0  # waits for the instructor
    for student in ("solution", "untouched"):
        nb = autograded(tmp_path / "classroom", student, ASSIGNMENT)
        assert errors_outside_tests(nb) == [], student
    student = load(release(ASSIGNMENT, tmp_path / "again"))
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and HIDDEN_BEGIN not in text
    assert "cms.storage.backup(mounts[name], location=name)" in text  # the instructions stay
    assert "def suitable(loc)" not in text  # the solutions do not
    assert "Rubric" not in cell(student, "m02-ex3-answer").source
