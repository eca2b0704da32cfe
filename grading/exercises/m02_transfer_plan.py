"""Exercise 02-transfer-plan: may each planned vendor receive the shop's customer data?

The setup generates, from the variant's seed, the shop's plan for new vendors with two
separate facts per vendor: its **role** (``processor``, acting on the shop's behalf, art.
4(8) and 28; or ``controller``, an independent controller or third party receiving for its
own purposes, art. 4(7), 4(10)) and the transfer's **pattern** (``systematic`` or
``occasional``, recital 111). Also: where it stores the data, from which countries its staff
or sub-processors reach it remotely (``remote_access``), the categories, DPF certification,
safeguard (SCCs, BCRs), consent and whether the transfer is needed for a customer's
contract. The learner writes ``assess_transfers(cms, plan) -> {name: basis}`` where basis is
``"EEA"`` (no transfer: Chapter V does not apply), ``"45"``, ``"46"``, ``"49(1)(a)"``,
``"49(1)(b)"`` or ``"missing"`` (nothing in the plan makes the transfer lawful).

The reference is the sandbox's own transfer check (``sandbox_cms.privacy.storage.check_transfer``
with the dated adequacy list ``datasets/reference/adequacy.toml``), tried in the order
Chapter V sets: adequacy (45), then appropriate safeguards (46), and only in their absence
a derogation (49(1) opening words), and a derogation only for an occasional transfer
(recital 111; the pattern, not the role, decides). A derogation by consent needs explicit
consent after being told the risks (49(1)(a)); consent in the terms and conditions is not
that. An EEA region removes the transfer for storage only: remote access from a third country
is itself a transfer, judged for that country. Every country the plan uses has a verified
entry in the reference data (tests/test_reference_facts.py).
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any

from grading.checks import PrincipleViolation
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.privacy import storage
from sandbox_cms.privacy.storage import Location, check_transfer, load_adequacy

EXERCISE_ID = "02-transfer-plan"
BASES = ("EEA", "45", "46", "49(1)(a)", "49(1)(b)", "missing")
# transfer mechanism of the storage register -> the basis the learner names
BASIS_OF = {"adequacy": "45", "adequacy:dpf": "45", "scc": "46", "bcr": "46",
            "consent_49_1_a": "49(1)(a)", "contract_49_1_b": "49(1)(b)"}
ARTICLE_OF = {"EEA": "art. 1(3) and 44", "45": "art. 45", "46": "art. 46",
              "49(1)(a)": "art. 49(1)(a)", "49(1)(b)": "art. 49(1)(b), recital 111",
              "missing": "art. 44"}

EU_OTHER = {"DE": "Frankfurt", "FR": "Paris", "IE": "Dublin", "SE": "Stockholm",
            "BE": "Brussels", "FI": "Helsinki", "PL": "Warsaw", "ES": "Madrid"}
EFTA = {"NO": "Oslo", "IS": "Reykjavik", "LI": "Vaduz"}
ADEQUATE = {"CH": "Zurich", "JP": "Tokyo", "CA": "Toronto", "GB": "London", "KR": "Seoul",
            "NZ": "Auckland", "UY": "Montevideo", "IL": "Tel Aviv", "BR": "Sao Paulo"}
US = {"US": "Virginia"}
# Countries without an adequacy decision: adequacy.toml [no_decision], checked with a date.
NO_DECISION = {"IN": "Mumbai", "SG": "Singapore", "AU": "Sydney", "ZA": "Cape Town",
               "MX": "Mexico City", "PH": "Manila"}
BRANDS = ("Aurora", "Basalt", "Cobalt", "Dune", "Ember", "Fjord", "Granite", "Harbor",
          "Indigo", "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Onyx", "Pylon",
          "Quartz", "Ridge", "Sable", "Tundra", "Umber", "Vertex", "Willow", "Zephyr",
          "Alder", "Birch", "Cedar", "Delta", "Estuary", "Falcon")
ALL = ["identity", "contact", "address", "financial", "order_history", "invoice", "consent"]
ROLES = ("processor", "controller")
PATTERNS = ("systematic", "occasional")
SYS, OCC = "systematic", "occasional"

# (name, role, pattern, countries, categories, dpf, safeguard, consent, needed_for_contract,
#  remote access from) -- every case is in every plan, whatever the seed.
CASES: tuple[tuple[Any, ...], ...] = (
    ("hosting", "processor", SYS, EU_OTHER, ALL, False, None, None, False, None),
    ("backups", "processor", SYS, EFTA, ALL, False, None, None, False, None),
    ("invoicing", "processor", SYS, {"NL": "Amsterdam"}, ["identity", "address", "invoice"],
     False, None, None, False, None),
    ("helpdesk", "processor", SYS, ADEQUATE, ["identity", "contact", "order_history"],
     False, None, None, False, None),
    ("mailer", "processor", SYS, US, ["identity", "contact"], True, None, None, False, None),
    ("crm", "processor", SYS, US, ["identity", "contact", "address", "order_history"],
     False, "scc", None, False, None),
    ("analytics", "processor", SYS, US, ["identity", "contact", "order_history"],
     False, None, None, False, None),
    ("support-desk", "processor", SYS, NO_DECISION, ["identity", "contact", "order_history"],
     False, "bcr", None, False, None),
    ("reviews", "processor", SYS, NO_DECISION, ["identity", "contact"],
     False, None, "explicit_informed", False, None),
    ("supplier", "controller", OCC, NO_DECISION, ["identity", "address"],
     False, None, None, True, None),
    ("loyalty-partner", "controller", OCC, NO_DECISION, ["identity", "contact"],
     False, None, "explicit_informed", False, None),
    ("ad-partner", "controller", OCC, NO_DECISION, ["identity", "contact", "order_history"],
     False, None, "in_terms", False, None),
    ("dropshipper", "controller", OCC, NO_DECISION, ["identity", "address", "order_history"],
     False, "scc", "explicit_informed", True, None),
    ("order-platform", "processor", SYS, NO_DECISION, ALL, False, None, None, True, None),
    # L6: the role does not decide the pattern. A processor that receives now and then (one
    # customer's address for one warranty repair) may use 49(1)(b); an independent controller
    # that receives every order may not.
    ("repair-service", "processor", OCC, NO_DECISION, ["identity", "address"],
     False, None, None, True, None),
    ("marketplace", "controller", SYS, NO_DECISION, ["identity", "address", "order_history"],
     False, None, None, True, None),
    # L7: stored in the EEA, reached from a third country by support staff: still a transfer.
    ("eu-cloud", "processor", SYS, EU_OTHER, ALL, False, "scc", None, False, NO_DECISION),
    ("eu-ticketing", "processor", SYS, EU_OTHER, ["identity", "contact", "order_history"],
     False, None, None, False, NO_DECISION),
)


def generate_plan(seed: int) -> list[dict[str, Any]]:
    """The vendor plan of one variant: every case once, countries and names from ``seed``."""
    rng = random.Random(seed)
    brands = rng.sample(BRANDS, len(CASES))
    plan = []
    for brand, (name, role, pattern, countries, categories, dpf, safeguard, consent, needed,
                remote) in zip(brands, CASES, strict=True):
        country = rng.choice(sorted(countries))
        plan.append({
            "name": f"{brand.lower()}-{name}", "role": role, "pattern": pattern,
            "country": country, "region": countries[country],
            "remote_access": [rng.choice(sorted(remote))] if remote else [],
            "categories": list(categories), "dpf_certified": dpf, "safeguard": safeguard,
            "consent": consent, "needed_for_contract": needed,
        })
    rng.shuffle(plan)
    return plan


def destination(entry: dict[str, Any]) -> str | None:
    """The third country the data goes to: where it is stored, or, when that is inside the
    EEA, where it is reached from (remote access is a transfer too); None: no transfer."""
    eea = load_adequacy().eea
    return next((c for c in [entry["country"], *entry.get("remote_access", [])]
                 if c not in eea), None)


_reference_calls = [0]  # how often the reference ran; the learner's code must not call it


def candidates(entry: dict[str, Any]) -> list[str]:
    """The transfer mechanisms the plan offers for ``entry``, in the order of Chapter V."""
    _reference_calls[0] += 1
    offered = ["adequacy:dpf" if entry["dpf_certified"] else "adequacy"]
    if entry["safeguard"]:
        offered.append(entry["safeguard"])
    if entry["consent"] == "explicit_informed":
        offered.append("consent_49_1_a")
    if entry["needed_for_contract"]:
        offered.append("contract_49_1_b")
    return offered


def reference_basis(entry: dict[str, Any]) -> tuple[str, str]:
    """The lawful basis for one planned vendor and the storage check's reason."""
    adequacy = load_adequacy()
    where = destination(entry)
    if where is None or check_transfer(_location(entry, "none", where), adequacy) is None:
        return "EEA", f"{entry['country']} is in the EEA: no transfer, Chapter V does not apply"
    last = ""
    for mechanism in candidates(entry):
        verdict = check_transfer(_location(entry, mechanism, where), adequacy)
        if verdict.lawful:
            return BASIS_OF[mechanism], verdict.reason
        last = last or verdict.reason
    return "missing", last


def _location(entry: dict[str, Any], mechanism: str, country: str) -> Location:
    kind = "processor" if entry["role"] == "processor" else "recipient"
    return Location(entry["name"], kind, country, entry["region"],
                    tuple(entry["categories"]), mechanism, pattern=entry["pattern"])


def normalise(value: Any) -> str | None:
    """A learner's basis in the exercise's spelling, or None if it is not one of BASES."""
    if value is None:
        return "missing"
    if not isinstance(value, str):
        return None
    text = re.sub(r"\b(art(icle)?\.?|gdpr|avg)\b", "", value.strip(), flags=re.I)
    text = text.replace(" ", "").strip(".").lower()
    for basis in BASES:
        if text == basis.lower():
            return basis
    return None


PLAN_SEEDS = {None: 20131001, 4242: 4242}  # sandbox seed -> plan seed


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    return {"plan": generate_plan(PLAN_SEEDS.get(variant.seed, variant.seed or 0))}


def expect(attempt: Attempt) -> dict[str, tuple[str, str]]:
    return {e["name"]: reference_basis(e) for e in attempt.context["plan"]}


def arguments(attempt: Attempt) -> list[Any]:
    """The plan (a copy); notes how often the reference ran before the learner's code."""
    attempt.context["reference_calls"] = _reference_calls[0]
    attempt.context["transfer_checks"] = storage.CHECK_TRANSFER_CALLS[0]
    return [copy.deepcopy(attempt.context["plan"])]


def assessed_by_hand(attempt: Attempt) -> None:
    """reference_basis(), candidates() and the sandbox's check_transfer are the reference;
    the learner decides."""
    if _reference_calls[0] != attempt.context.get("reference_calls", _reference_calls[0]):
        raise PrincipleViolation(
            "task", "grading.exercises.m02_transfer_plan (reference_basis, candidates) is the "
            "reference the grader compares with; decide each vendor's basis yourself, in "
            "Chapter V's order")
    if storage.CHECK_TRANSFER_CALLS[0] != attempt.context.get(
            "transfer_checks", storage.CHECK_TRANSFER_CALLS[0]):
        raise PrincipleViolation(
            "task", "check_transfer (and cms.storage.check_transfers) is the reference the "
            "grader compares with; decide each vendor's basis yourself from load_adequacy(), "
            "in Chapter V's order (outside your function it is a fine way to check your work)")


def every_vendor_answered(attempt: Attempt) -> None:
    """One known basis for every planned vendor, no other names."""
    result, expected = attempt.result, attempt.expected
    missing = [n for n in expected if n not in result]
    unknown = [str(n) for n in result if n not in expected]
    if missing or unknown:
        records = [f"no answer for {n}" for n in missing] + [f"{n!r} is not in the plan"
                                                             for n in unknown]
        raise PrincipleViolation(
            "task", "return one basis for every vendor of the plan, by name", records)
    bad = [f"{n}: {v!r}" for n, v in result.items() if normalise(v) is None]
    if bad:
        raise PrincipleViolation(
            "task", f"a basis must be one of the strings {', '.join(map(repr, BASES))}"
            " (the article as text, e.g. '45', not the number 45)", bad)


def eea_is_free(attempt: Attempt) -> None:
    """A vendor inside the EEA needs no transfer mechanism; one outside is not 'EEA'."""
    plan = {e["name"]: e for e in attempt.context["plan"]}
    records = []
    for name, (basis, _) in attempt.expected.items():
        given = normalise(attempt.result[name])
        country = plan[name]["country"]
        if basis == "EEA" and given != "EEA" and given is not None:
            efta = " (an EEA EFTA state, not in the EU)" if country in EFTA else ""
            records.append(f"{name} in {country}: {country} is in the EEA{efta}, so no "
                           f"transfer takes place and no mechanism is needed (you said {given})")
    if records:
        raise PrincipleViolation(
            "free_movement", "no rule keeps customer data in the Netherlands; inside the "
            "EEA (EU 27 plus Iceland, Liechtenstein, Norway) data moves freely", records)


def bases_match(attempt: Attempt) -> None:
    """Each vendor outside the EEA gets the basis of the reference, in Chapter V's order."""
    plan = {e["name"]: e for e in attempt.context["plan"]}
    records, article = [], None
    for name, (basis, reason) in attempt.expected.items():
        given = normalise(attempt.result[name])
        if given == basis:
            continue
        where, text = explain(plan[name], basis, reason, given)
        article = article or where
        records.append(f"{name} in {plan[name]['country']}: {text}")
    if records:
        wrong = "1 answer does not" if len(records) == 1 else f"{len(records)} answers do not"
        raise PrincipleViolation(
            "transfers", f"{wrong} follow Chapter V", records,
            article=f"{article} (Chapter V GDPR)")


def explain(entry: dict[str, Any], basis: str, reason: str, given: str) -> tuple[str, str]:
    """The article and a plain explanation of one wrong basis."""
    country, role, pattern = entry["country"], entry["role"], entry["pattern"]
    remote = [c for c in entry.get("remote_access", []) if c not in load_adequacy().eea]
    if given == "EEA" and remote and country in load_adequacy().eea:
        return "art. 44, 46", (
            f"the data is stored in {country}, but staff or sub-processors in {remote[0]} reach "
            "it remotely: that access is itself a transfer, so Chapter V applies (an EEA "
            f"region removes the transfer for storage only); the answer is {basis}")
    if given == "EEA":
        return "art. 44", f"{country} is outside the EEA, so this is a transfer (you said EEA)"
    country = destination(entry) or country
    if given == "45":
        if country == "US":
            return "art. 45; Decision (EU) 2023/1795", (
                "the US adequacy decision covers only organisations certified under the EU-US "
                "Data Privacy Framework, and this one is not (Safe Harbour was declared invalid "
                f"in 2015, the Privacy Shield in 2020); the answer is {basis}")
        if country not in load_adequacy().decisions:
            return "art. 45", (f"there is no adequacy decision for {country} (see "
                               f"adequacy.toml); the answer is {basis}")
    if given == "46" and not entry["safeguard"]:
        return "art. 46", f"the plan has no SCCs or BCRs for it; the answer is {basis}"
    if given in ("49(1)(a)", "49(1)(b)"):
        if basis in ("45", "46"):
            return "art. 49(1)", (
                f"a derogation applies only in the absence of an adequacy decision or "
                f"appropriate safeguards, and art. {basis} is available")
        if pattern != "occasional":
            where = ("art. 49(1)(b); recital 111; EDPB Guidelines 2/2018" if given == "49(1)(b)"
                     else "art. 49(1)(a); EDPB Guidelines 2/2018")
            return where, (
                f"a derogation covers occasional transfers, and this {role} receives data "
                "systematically (the pattern decides, not the role: recital 111 says so for "
                "the contract; the EDPB reads every derogation as a narrow exception)")
        if given == "49(1)(a)":
            return "art. 49(1)(a)", (
                "consent in the terms and conditions is not explicit consent given after "
                "being informed of the risks" if entry["consent"] == "in_terms"
                else "the plan has no explicit, informed consent")
        return "art. 49(1)(b)", "the plan does not say the transfer is needed for a contract"
    if given == "missing" and basis == "49(1)(b)" and role == "processor":
        return "art. 49(1)(b), recital 111", (
            "this processor receives only occasionally (one customer's data for one order), "
            "and the transfer is needed for the customer's contract: the derogation depends "
            "on the pattern and necessity, not on the role (art. 28 is about the role)")
    if given == "missing":
        return ARTICLE_OF[basis], f"it can go lawfully: {reason}"
    return ARTICLE_OF[basis], f"the answer is {basis}, not {given}: {reason}"


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="May each planned vendor receive the shop's customer data?",
    principles=("transfers", "free_movement"),
    task=(
        "assess_transfers(cms, plan) returns {vendor name: basis} with basis 'EEA', '45', "
        "'46', '49(1)(a)', '49(1)(b)' or 'missing', in the order Chapter V sets: adequacy, "
        "then safeguards, and only without them a derogation for an occasional transfer; "
        "remote access from outside the EEA is a transfer too."
    ),
    checks=(assessed_by_hand, every_vendor_answered, eea_is_free, bases_match),
    points=4,
    returns=dict,
    visible=Variant(scenario="webshop", seed=None, customers=300),
    hidden=Variant(scenario="webshop", customers=300),
    prepare=prepare,
    expect=expect,
    arguments=arguments,
))
