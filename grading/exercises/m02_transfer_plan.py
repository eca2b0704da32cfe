"""Exercise 02-transfer-plan: may each planned vendor receive the shop's customer data?

The learner gets what a real engineer reads before a vendor goes live, written by
``prepare`` into a folder (the *dossier*), and must establish the facts from it:

- ``vendors.json``: each vendor's legal entity, service, role (processor, art. 4(8) and 28,
  or an independent controller, art. 4(7), 4(10)), the pattern of the flow (systematic or
  occasional, recital 111), where it hosts the data, the countries its support staff work
  from, its signed SCCs and the date of its transfer impact assessment, the consent the
  shop collects for it, whether it is needed for the customer's order, and the vendor's own
  statement ("all data stays in the EU") that the learner must not take on trust;
- ``subprocessors.csv``: the vendors' sub-processors, with country and, for a
  sub-processor outside the EEA, the safeguard the vendor signed with it;
- ``dpf-list.csv``: an extract of a DPF-style certification list (status, covered data,
  dates; fictional organisations only);
- the adequacy list, ``load_adequacy()`` (``datasets/reference/adequacy.toml``, dated),
  and the sandbox clock ``cms.clock.now()`` for "today".

The learner writes ``assess_transfers(cms, dossier) -> {name: basis}`` with basis ``"EEA"``
(no transfer), ``"45"``, ``"46"``, ``"49(1)(a)"``, ``"49(1)(b)"`` or ``"missing"``.

The reference establishes each vendor's third-country *leg* (hosting, remote access from a
support site, or a sub-processor: EDPB Guidelines 05/2021; art. 44 covers onward transfers)
and its importer, derives the mechanisms the dossier offers (DPF only for an Active entry
that covers non-HR data; SCCs only with a dated transfer impact assessment, Clause 14 of
Decision (EU) 2021/914 after C-311/18; an adequacy decision only until its ``expires`` date)
and asks the sandbox's own transfer check (``check_transfer``) in Chapter V's order:
adequacy (45), safeguards (46), and only in their absence a derogation (49(1)), a
derogation only for an occasional transfer (recital 111). Every case of ``CASES`` is in
every dossier, whatever the seed; each vendor has at most one third-country leg.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import random
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from grading.checks import PrincipleViolation
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import CourseError
from sandbox_cms.privacy import storage
from sandbox_cms.privacy.storage import Location, check_transfer, load_adequacy

EXERCISE_ID = "02-transfer-plan"
VENDORS_FILE = DATASETS / "exercises" / "transfer_vendors.toml"
BASES = ("EEA", "45", "46", "49(1)(a)", "49(1)(b)", "missing")
# transfer mechanism of the storage check -> the basis the learner names
BASIS_OF = {"adequacy": "45", "adequacy:dpf": "45", "scc": "46",
            "consent_49_1_a": "49(1)(a)", "contract_49_1_b": "49(1)(b)"}
ARTICLE_OF = {"EEA": "art. 1(3) and 44", "45": "art. 45", "46": "art. 46",
              "49(1)(a)": "art. 49(1)(a)", "49(1)(b)": "art. 49(1)(b), recital 111",
              "missing": "art. 44"}
SCC_DECISION = "Decision (EU) 2021/914"

NL = {"NL": "Amsterdam"}
EU_OTHER = {"DE": "Frankfurt", "FR": "Paris", "IE": "Dublin", "SE": "Stockholm",
            "BE": "Brussels", "FI": "Helsinki", "PL": "Warsaw", "ES": "Madrid"}
EFTA = {"NO": "Oslo", "IS": "Reykjavik", "LI": "Vaduz"}
CH = {"CH": "Zurich"}
GB = {"GB": "London"}
ADEQUATE = {"JP": "Tokyo", "CA": "Toronto", "KR": "Seoul", "NZ": "Auckland",
            "UY": "Montevideo", "IL": "Tel Aviv", "BR": "Sao Paulo"}
US = {"US": "Virginia"}
# Countries without an adequacy decision: adequacy.toml [no_decision], checked with a date.
NO_DECISION = {"IN": "Mumbai", "SG": "Singapore", "AU": "Sydney", "ZA": "Cape Town",
               "MX": "Mexico City", "PH": "Manila"}
ALL = ["identity", "contact", "address", "financial", "order_history", "invoice", "consent"]
SYS, OCC = "systematic", "occasional"
EU_CLAIM = "All customer data is hosted in the EU and never leaves it."


@dataclass(frozen=True)
class Case:
    """One boundary every dossier holds. ``support`` and ``sub`` are pools of countries (a
    support site; a sub-processor) or None; ``dpf`` is the vendor's or, with ``sub``, the
    sub-processor's entry on the certification list; ``scc`` is ``"tia"`` (signed, with a
    dated transfer impact assessment), ``"no_tia"`` or None, for the third-country leg."""

    key: str
    service: str
    role: str
    pattern: str
    hosting: dict[str, str]
    categories: tuple[str, ...]
    support: dict[str, str] | None = None
    sub: dict[str, str] | None = None
    dpf: str | None = None  # "active", "inactive" (lapsed), "hr_only", "decoy" (a namesake)
    scc: str | None = None
    consent: str | None = None
    needed: bool = False
    claim: bool = False


CONTACT = ("identity", "contact")
CASES: tuple[Case, ...] = (
    # inside the EEA: no transfer (art. 1(3)); an EFTA state is in the EEA
    Case("hosting", "web shop hosting", "processor", SYS, EU_OTHER, tuple(ALL),
         sub=EU_OTHER),
    Case("backups", "off-site backups", "processor", SYS, EFTA, tuple(ALL)),
    Case("invoicing", "invoicing", "processor", SYS, NL, ("identity", "address", "invoice"),
         support=EFTA),
    # adequacy (art. 45): Switzerland and the UK are outside the EEA, with a decision
    Case("helpdesk", "helpdesk", "processor", SYS, CH, (*CONTACT, "order_history")),
    Case("crm", "customer relations", "processor", SYS, GB, (*CONTACT, "address")),
    Case("search", "product search", "processor", SYS, ADEQUATE, (*CONTACT, "order_history")),
    # the US: adequacy only for an Active DPF entry covering non-HR (customer) data
    Case("mailer", "newsletter mailing", "processor", SYS, US, CONTACT, dpf="active"),
    Case("analytics", "web analytics", "processor", SYS, US, (*CONTACT, "order_history"),
         dpf="inactive"),
    Case("surveys", "customer surveys", "processor", SYS, US, CONTACT, dpf="hr_only"),
    Case("chat", "live chat", "processor", SYS, US, (*CONTACT, "order_history"),
         dpf="decoy", scc="tia"),
    Case("fraud-check", "fraud screening", "processor", SYS, US,
         (*CONTACT, "address", "financial"), dpf="inactive", scc="tia"),
    # SCCs count only with the assessment Schrems II asks for (Clause 14)
    Case("labels", "shipping labels", "processor", SYS, NO_DECISION,
         ("identity", "address"), scc="no_tia"),
    # hosted in the EEA, reached from or passed on to a third country
    Case("eu-cloud", "cloud platform", "processor", SYS, EU_OTHER, tuple(ALL), sub=US,
         scc="tia", claim=True),
    Case("eu-ticketing", "ticketing", "processor", SYS, EU_OTHER, (*CONTACT, "order_history"),
         support=NO_DECISION, claim=True),
    Case("eu-newsletter", "e-mail campaigns", "processor", SYS, EU_OTHER, CONTACT, sub=US,
         dpf="active", claim=True),
    Case("eu-reviews", "review invitations", "processor", SYS, EU_OTHER, CONTACT, sub=US,
         dpf="inactive", claim=True),
    # derogations (art. 49): only without adequacy or safeguards, and only occasional
    Case("supplier", "drop-shipping supplier", "controller", OCC, NO_DECISION,
         ("identity", "address"), needed=True),
    Case("loyalty-partner", "loyalty programme", "controller", OCC, NO_DECISION, CONTACT,
         consent="explicit_informed"),
    Case("ad-partner", "advertising partner", "controller", OCC, NO_DECISION,
         (*CONTACT, "order_history"), consent="in_terms"),
    Case("dropshipper", "drop-shipping supplier", "controller", OCC, NO_DECISION,
         ("identity", "address", "order_history"), scc="tia", consent="explicit_informed",
         needed=True),
    Case("order-platform", "order platform", "processor", SYS, NO_DECISION, tuple(ALL),
         needed=True),
    # L6: the pattern, not the role, decides a derogation
    Case("repair-service", "warranty repairs", "processor", OCC, NO_DECISION,
         ("identity", "address"), needed=True),
    Case("marketplace", "marketplace", "controller", SYS, NO_DECISION,
         ("identity", "address", "order_history"), needed=True),
    # consent is no basis for a routine (systematic) transfer
    Case("reviews", "product reviews", "processor", SYS, NO_DECISION, CONTACT,
         consent="explicit_informed"),
)


@cache
def _pools() -> dict[str, Any]:
    data = read_toml(VENDORS_FILE, CourseError, "vendor pools")
    if len(data["brands"]) < len(CASES):
        raise CourseError(f"{VENDORS_FILE}: 'brands' needs at least {len(CASES)} names")
    return data


def _entity(brand: str, service: str, country: str) -> str:
    suffix = _pools()["suffix"].get(country, "Ltd")
    return f"{brand} {service.split()[-1].capitalize()} {suffix}"


def _day(today: dt.date, rng: random.Random, low: int, high: int) -> str:
    return (today + dt.timedelta(days=rng.randint(low, high))).isoformat()


def generate_dossier(seed: int, today: dt.date,
                     cases: tuple[Case, ...] = CASES) -> dict[str, list[dict[str, Any]]]:
    """The dossier of one variant: every case once; names, places and dates from ``seed``
    (``cases``: another shop's vendor set, e.g. module 07's analytics shortlist)."""
    rng = random.Random(seed)
    pools = _pools()
    brands = rng.sample(pools["brands"], len(cases))
    sub_brands = iter(rng.sample(pools["subprocessor_brands"],
                                 len(pools["subprocessor_brands"])))
    vendors, subs, dpf = [], [], []

    def certify(entity: str, status: str) -> None:
        due = rng.randint(30, 300)  # days from today; recertification is yearly
        row = {"organization": entity, "status": "Active", "covered_data": "HR; Non-HR",
               "certified_since": _day(today, rng, due - 365, due - 365),
               "next_certification_due": _day(today, rng, due, due), "inactive_since": ""}
        if status == "hr_only":
            row["covered_data"] = "HR"
        elif status == "inactive":  # lapsed: not recertified, moved to the inactive list
            lapsed = rng.randint(20, 200)
            row.update(status="Inactive",
                       certified_since=_day(today, rng, -lapsed - 365, -lapsed - 365),
                       next_certification_due=_day(today, rng, -lapsed, -lapsed),
                       inactive_since=_day(today, rng, 1 - lapsed, -1))
        elif status == "non_hr":
            row["covered_data"] = "Non-HR"
        dpf.append(row)

    def contract(scc: str | None, module: str) -> tuple[str | None, str | None]:
        if scc is None:
            return None, None
        signed = f"{SCC_DECISION}, module {module}"
        return signed, (_day(today, rng, -400, -10) if scc == "tia" else None)

    for brand, case in zip(brands, cases, strict=True):
        country = rng.choice(sorted(case.hosting))
        entity = _entity(brand, case.service, country)
        name = f"{brand.lower()}-{case.key}"
        support = [country]
        if case.support:
            support.append(rng.choice(sorted(case.support)))
        module = "2" if case.role == "processor" else "1"
        scc, tia = contract(None if case.sub else case.scc, module)
        vendors.append({
            "name": name, "legal_entity": entity, "service": case.service,
            "role": case.role, "pattern": case.pattern, "categories": list(case.categories),
            "hosting": {"country": country, "region": case.hosting[country]},
            "support_from": support,
            "statement": EU_CLAIM if case.claim else "",
            "scc": scc, "tia": tia, "consent": case.consent,
            "needed_for_order": case.needed,
        })
        if case.sub:
            sub_country = rng.choice(sorted(case.sub))
            sub_brand = next(sub_brands)
            service = rng.choice(pools["subprocessor_services"])
            sub_entity = f"{sub_brand} {service.split()[0].capitalize()} " + (
                pools["suffix"].get(sub_country, "Ltd"))
            sub_scc, sub_tia = contract(case.scc, "3")
            subs.append({"vendor": name, "subprocessor": sub_entity, "service": service,
                         "country": sub_country, "safeguard": sub_scc or "",
                         "tia": sub_tia or ""})
            if case.dpf:
                certify(sub_entity, case.dpf)
        elif case.dpf == "decoy":  # a namesake of the vendor is certified, the vendor is not
            certify(f"{brand} Holdings LLC", "active")
        elif case.dpf:
            certify(entity, "non_hr" if case.dpf == "active" and rng.random() < 0.5
                    else case.dpf)
        if country in EU_OTHER and not case.sub and rng.random() < 0.5:  # EEA noise
            eea = rng.choice(sorted(EU_OTHER))
            subs.append({"vendor": name, "subprocessor": f"{next(sub_brands)} Logs "
                         f"{pools['suffix'].get(eea, 'Ltd')}", "service": "log storage",
                         "country": eea, "safeguard": "", "tia": ""})
    for decoy in rng.sample(pools["dpf_decoys"], 6):
        certify(decoy, rng.choice(["active", "inactive", "hr_only", "non_hr"]))
    rng.shuffle(vendors)
    rng.shuffle(subs)
    rng.shuffle(dpf)
    return {"vendors": vendors, "subprocessors": subs, "dpf": dpf}


SUB_COLUMNS = ("vendor", "subprocessor", "service", "country", "safeguard", "tia")
DPF_COLUMNS = ("organization", "status", "covered_data", "certified_since",
               "next_certification_due", "inactive_since")


def write_dossier(folder: Path, dossier: dict[str, list[dict[str, Any]]]) -> Path:
    """Write the dossier's three files into ``folder`` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vendors.json").write_text(json.dumps(dossier["vendors"], indent=2) + "\n")
    for name, columns, rows in (("subprocessors.csv", SUB_COLUMNS, dossier["subprocessors"]),
                                ("dpf-list.csv", DPF_COLUMNS, dossier["dpf"])):
        with (folder / name).open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return folder


def example_dossier(cms: Any, folder: str | Path | None = None, seed: int = 1) -> Path:
    """A dossier like the grader's (other vendors, dates from ``cms``'s today), written to
    ``folder`` (default: a new temporary folder), to explore and to try a function on."""
    target = Path(folder) if folder is not None else Path(
        tempfile.mkdtemp(prefix="vendor-dossier-"))
    return write_dossier(target, generate_dossier(seed, cms.clock.now().date()))


# --- the reference ---------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """The vendor's transfer to a third country: where, how, to whom, under which SCCs."""

    country: str
    via: str  # "hosting", "support" or "sub-processor"
    importer: str
    scc: str | None
    tia: str | None


def third_country_leg(vendor: dict[str, Any], dossier: dict[str, Any]) -> Leg | None:
    """The vendor's leg outside the EEA (hosting, a support site or a sub-processor), or
    None when the data stays in the EEA."""
    eea = load_adequacy().eea
    if vendor["hosting"]["country"] not in eea:
        return Leg(vendor["hosting"]["country"], "hosting", vendor["legal_entity"],
                   vendor["scc"], vendor["tia"])
    for country in vendor["support_from"]:
        if country not in eea:
            return Leg(country, "support", vendor["legal_entity"], vendor["scc"], vendor["tia"])
    for sub in dossier["subprocessors"]:
        if sub["vendor"] == vendor["name"] and sub["country"] not in eea:
            return Leg(sub["country"], "sub-processor", sub["subprocessor"],
                       sub["safeguard"] or None, sub["tia"] or None)
    return None


def dpf_entry(entity: str, dossier: dict[str, Any]) -> dict[str, str] | None:
    return next((r for r in dossier["dpf"] if r["organization"] == entity), None)


def dpf_covers(entity: str, dossier: dict[str, Any], today: dt.date) -> bool:
    """The entity is on the list, Active, due for recertification after today, and
    certified for non-HR data (customer data is not HR data)."""
    row = dpf_entry(entity, dossier)
    return bool(row and row["status"] == "Active"
                and "Non-HR" in [c.strip() for c in row["covered_data"].split(";")]
                and dt.date.fromisoformat(row["next_certification_due"]) > today)


_reference_calls = [0]  # how often the reference ran; the learner's code must not call it


def candidates(vendor: dict[str, Any], leg: Leg, dossier: dict[str, Any],
               today: dt.date) -> list[str]:
    """The transfer mechanisms the dossier offers for ``leg``, in the order of Chapter V."""
    _reference_calls[0] += 1
    offered = []
    decision = load_adequacy().decisions.get(leg.country)
    expires = decision.get("expires") if decision else None
    if expires is None or expires > today:
        offered.append("adequacy:dpf" if dpf_covers(leg.importer, dossier, today)
                       else "adequacy")
    if leg.scc and leg.tia and dt.date.fromisoformat(leg.tia) <= today:
        offered.append("scc")
    if vendor["consent"] == "explicit_informed":
        offered.append("consent_49_1_a")
    if vendor["needed_for_order"]:
        offered.append("contract_49_1_b")
    return offered


def reference_basis(vendor: dict[str, Any], dossier: dict[str, Any],
                    today: dt.date) -> tuple[str, str]:
    """The lawful basis for one vendor and the storage check's reason."""
    leg = third_country_leg(vendor, dossier)
    if leg is None:
        return "EEA", (f"{vendor['hosting']['country']} is in the EEA and so is everyone who "
                       "reaches the data: no transfer, Chapter V does not apply")
    adequacy, last = load_adequacy(), ""
    for mechanism in candidates(vendor, leg, dossier, today):
        verdict = check_transfer(_location(vendor, leg, mechanism), adequacy)
        if verdict is not None and verdict.lawful:
            return BASIS_OF[mechanism], verdict.reason
        last = last or (verdict.reason if verdict else "")
    return "missing", last or f"nothing in the dossier covers the transfer to {leg.country}"


def _location(vendor: dict[str, Any], leg: Leg, mechanism: str) -> Location:
    kind = "processor" if vendor["role"] == "processor" else "recipient"
    return Location(vendor["name"], kind, leg.country, vendor["hosting"]["region"],
                    tuple(vendor["categories"]), mechanism, pattern=vendor["pattern"])


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


PLAN_SEEDS = {None: 20131001, 4242: 4242}  # sandbox seed -> dossier seed


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    today = cms.clock.now().date()
    dossier = generate_dossier(PLAN_SEEDS.get(variant.seed, variant.seed or 0), today)
    folder = write_dossier(Path(cms.path).parent / "vendor-dossier", dossier)
    return {"dossier": dossier, "folder": folder, "today": today}


def expect(attempt: Attempt) -> dict[str, tuple[str, str]]:
    ctx = attempt.context
    return {v["name"]: reference_basis(v, ctx["dossier"], ctx["today"])
            for v in ctx["dossier"]["vendors"]}


def arguments(attempt: Attempt) -> list[Any]:
    """The dossier folder (rewritten from the grader's copy); notes how often the reference
    ran before the learner's code."""
    attempt.context["reference_calls"] = _reference_calls[0]
    attempt.context["transfer_checks"] = storage.CHECK_TRANSFER_CALLS[0]
    write_dossier(attempt.context["folder"], copy.deepcopy(attempt.context["dossier"]))
    return [str(attempt.context["folder"])]


# --- the checks ------------------------------------------------------------------------


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
    """One known basis for every vendor of the dossier, no other names."""
    result, expected = attempt.result, attempt.expected
    missing = [n for n in expected if n not in result]
    unknown = [str(n) for n in result if n not in expected]
    if missing or unknown:
        records = [f"no answer for {n}" for n in missing] + [
            f"{n!r} is not in vendors.json" for n in unknown]
        raise PrincipleViolation(
            "task", "return one basis for every vendor of vendors.json, by its name", records)
    bad = [f"{n}: {v!r}" for n, v in result.items() if normalise(v) is None]
    if bad:
        raise PrincipleViolation(
            "task", f"a basis must be one of the strings {', '.join(map(repr, BASES))}"
            " (the article as text, e.g. '45', not the number 45)", bad)


def _vendors(attempt: Attempt) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in attempt.context["dossier"]["vendors"]}


def eea_is_free(attempt: Attempt) -> None:
    """A vendor whose data stays inside the EEA needs no transfer mechanism."""
    records = []
    for name, vendor in _vendors(attempt).items():
        basis = attempt.expected[name][0]
        given = normalise(attempt.result[name])
        country = vendor["hosting"]["country"]
        if basis == "EEA" and given not in ("EEA", None):
            efta = " (an EEA EFTA state, not in the EU)" if country in EFTA else ""
            records.append(f"{name} in {country}: {country} is in the EEA{efta}, so no "
                           f"transfer takes place and no mechanism is needed (you said {given})")
    if records:
        raise PrincipleViolation(
            "free_movement", "no rule keeps customer data in the Netherlands; inside the "
            "EEA (EU 27 plus Iceland, Liechtenstein, Norway) data moves freely", records)


def bases_match(attempt: Attempt) -> None:
    """Each vendor with a third-country leg gets the basis of the reference."""
    vendors, ctx = _vendors(attempt), attempt.context
    found = []
    for name, (basis, reason) in attempt.expected.items():
        given = normalise(attempt.result[name])
        if given == basis:
            continue
        vendor = vendors[name]
        leg = third_country_leg(vendor, ctx["dossier"])
        rank, where, text = explain(vendor, leg, ctx["dossier"], ctx["today"], basis, reason,
                                    given)
        found.append((rank, where, f"{name}: {text}"))
    if found:
        found.sort(key=lambda item: item[0])  # the most telling explanation first
        wrong = "1 answer does not" if len(found) == 1 else f"{len(found)} answers do not"
        raise PrincipleViolation(
            "transfers", f"{wrong} follow Chapter V", [text for _, _, text in found],
            article=f"{found[0][1]} (Chapter V GDPR)")


def explain(vendor: dict[str, Any], leg: Leg | None, dossier: dict[str, Any],
            today: dt.date, basis: str, reason: str, given: str) -> tuple[int, str, str]:
    """How telling the explanation is (0 first), the article, and a plain explanation of
    one wrong basis."""
    hosting = vendor["hosting"]["country"]
    if leg is None:  # unreachable: eea_is_free answers these first
        return 9, ARTICLE_OF["EEA"], f"the data stays in the EEA; the answer is {basis}"
    if given == "EEA" and leg.via == "support":
        return 0, "art. 44; EDPB Guidelines 05/2021", (
            f"hosted in {hosting}, but support staff in {leg.country} reach the data "
            "remotely: that access is itself a transfer, so Chapter V applies (an EEA "
            f"region removes the transfer for storage only); the answer is {basis}")
    if given == "EEA" and leg.via == "sub-processor":
        return 0, "art. 44 (onward transfers), 28(2) and 28(4)", (
            f"hosted in {hosting}, but its sub-processor {leg.importer} in {leg.country} "
            "receives the data: the vendor's own 'EU hosting' statement does not cover its "
            "sub-processors, and an onward transfer needs a basis too (read "
            f"subprocessors.csv); the answer is {basis}")
    if given == "EEA":
        return 1, "art. 44", (f"{leg.country} is outside the EEA, so this is a transfer "
                              f"(you said EEA); the answer is {basis}")
    if given == "45" and leg.country == "US":
        row = dpf_entry(leg.importer, dossier)
        decision = "art. 45; Decision (EU) 2023/1795"
        if row and row["status"] != "Active":
            return 0, decision, (
                f"{leg.importer} is on the Data Privacy Framework list as {row['status']} "
                f"since {row['inactive_since']}: its certification lapsed, and a lapsed "
                f"entry covers no new transfer; the answer is {basis}")
        if row and "Non-HR" not in row["covered_data"]:
            return 0, decision, (
                f"{leg.importer}'s Data Privacy Framework certification covers "
                f"{row['covered_data']} data only, and customer data is not HR data; "
                f"the answer is {basis}")
        return 0, decision, (
            f"{leg.importer} is not on the Data Privacy Framework list (look up the exact "
            "legal entity, not the brand), and the US adequacy decision covers only certified "
            "organisations (Safe Harbour fell in 2015, the Privacy Shield in 2020); "
            f"the answer is {basis}")
    if given == "45" and leg.country not in load_adequacy().decisions:
        return 1, "art. 45", (f"there is no adequacy decision for {leg.country} (see "
                              f"adequacy.toml); the answer is {basis}")
    if given == "46" and leg.scc and not leg.tia:
        return 0, f"art. 46; {SCC_DECISION}, Annex, Clause 14; C-311/18", (
            "the SCCs are signed, but there is no transfer impact assessment: since Schrems "
            "II the parties must assess the destination's law before relying on them "
            f"(Clause 14); until it is done the answer is {basis}")
    if given == "46" and not leg.scc:
        return 1, "art. 46", f"the dossier has no SCCs for this leg; the answer is {basis}"
    if given in ("49(1)(a)", "49(1)(b)"):
        if basis in ("45", "46"):
            return 0, "art. 49(1)", (
                "a derogation applies only in the absence of an adequacy decision or "
                f"appropriate safeguards, and art. {basis} is available")
        if vendor["pattern"] != "occasional":
            where = ("art. 49(1)(b); recital 111; EDPB Guidelines 2/2018" if given == "49(1)(b)"
                     else "art. 49(1)(a); EDPB Guidelines 2/2018")
            return 0, where, (
                f"a derogation covers occasional transfers, and this {vendor['role']} "
                "receives data systematically, as routine (the pattern decides, not the role; "
                "the EDPB reads every derogation as a narrow exception, consent included)")
        if given == "49(1)(a)":
            return 0, "art. 49(1)(a)", (
                "consent in the terms and conditions is not explicit consent given after "
                "being informed of the risks" if vendor["consent"] == "in_terms"
                else "the dossier has no explicit, informed consent")
        return 1, "art. 49(1)(b)", "the transfer is not needed for the customer's order"
    if given == "missing" and basis == "49(1)(b)" and vendor["role"] == "processor":
        return 0, "art. 49(1)(b), recital 111", (
            "this processor receives only occasionally (one customer's data for one order), "
            "and the transfer is needed for the customer's order: the derogation depends "
            "on the pattern and necessity, not on the role (art. 28 is about the role)")
    if given == "missing":
        return 1, ARTICLE_OF[basis], f"it can go lawfully: {reason}"
    return 2, ARTICLE_OF[basis], f"the answer is {basis}, not {given}: {reason}"


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="May each planned vendor receive the shop's customer data?",
    principles=("transfers", "free_movement"),
    names_principle=False,  # the answers are articles, but which rules apply is the work
    task=(
        "assess_transfers(cms, dossier) reads the vendor dossier (vendors.json, "
        "subprocessors.csv, dpf-list.csv) and the dated lists of the sandbox, and returns "
        "{vendor name: 'EEA', '45', '46', '49(1)(a)', '49(1)(b)' or 'missing'}: may each "
        "vendor go live, and on which article of the GDPR?"
    ),
    checks=(assessed_by_hand, every_vendor_answered, eea_is_free, bases_match),
    points=4,
    returns=dict,
    visible=Variant(scenario="webshop", seed=None, customers=300,
                    now=dt.datetime(2026, 12, 1, 9, 0)),
    hidden=Variant(scenario="webshop", customers=300, now=dt.datetime(2026, 11, 16, 9, 0)),
    prepare=prepare,
    expect=expect,
    arguments=arguments,
))
