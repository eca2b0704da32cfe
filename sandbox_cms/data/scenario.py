"""Scenarios: the shape of a synthetic webshop, read from ``datasets/scenarios/*.toml``.

A scenario is data, not code: size, calendar, rates, products, consent questions and the
seed. :func:`load_scenario` is the one place that reads and validates those files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import ScenarioError
from sandbox_cms.privacy.consent import load_methods
from sandbox_cms.privacy.policy import default_register

SCENARIO_DIR = DATASETS / "scenarios"
MAX_CUSTOMERS = 10_000_000  # the largest sandbox a scenario or `seed --customers` may ask for



@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price_cents: int
    warranty_months: int = 0


@dataclass(frozen=True)
class ConsentQuestion:
    """How often customers were asked for (and gave, and withdrew) consent to a purpose."""

    purpose: str
    text_version: str
    grant_rate: float
    withdraw_rate: float
    channel: str
    methods: dict[str, float]


@dataclass(frozen=True)
class ConsentText:
    purpose: str
    version: str
    text: str
    published_at: dt.date


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    seed: int
    customers: int
    start: dt.date
    end: dt.date
    now: dt.date
    repeat_buyer_rate: float
    max_orders: int
    max_items: int
    company_rate: float
    closed_account_rate: float
    products: tuple[Product, ...]
    consents: tuple[ConsentQuestion, ...] = ()
    consent_texts: tuple[ConsentText, ...] = ()
    source: str = field(default="", compare=False)

    def with_overrides(self, customers: int | None = None, seed: int | None = None) -> Scenario:
        """The same scenario with another size or seed."""
        if customers is not None and customers < 0:
            raise ScenarioError(f"customers must be 0 or more, not {customers}")
        if seed is not None and not -(2**63) <= seed < 2**63:
            raise ScenarioError(f"seed must fit in 64 bits (below 2**63), not {seed}")
        if customers is not None and customers > MAX_CUSTOMERS:
            raise ScenarioError(
                f"customers must be at most {MAX_CUSTOMERS:,}, not {customers:,}"
                " (a million builds in well under a minute; more is no sandbox any more)"
            )
        return replace(
            self,
            customers=self.customers if customers is None else customers,
            seed=self.seed if seed is None else seed,
        )


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in datasets/scenarios/."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario by name (``"webshop"``) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SCENARIO_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(available_scenarios())
            raise ScenarioError(f"unknown scenario {str(name_or_path)!r} (known: {known})")
    return _parse(read_toml(path, ScenarioError, "scenario file"), str(path))


def _parse(raw: dict[str, Any], source: str) -> Scenario:
    r = _Reader(raw, source)
    scenario = Scenario(
        name=r.text("name"),
        title=r.text("title"),
        description=r.text("description"),
        seed=r.integer("seed", minimum=-(2**63), maximum=2**63 - 1),
        customers=r.integer("customers", minimum=0, maximum=MAX_CUSTOMERS),
        start=r.date("start"),
        end=r.date("end"),
        now=r.date("now"),
        repeat_buyer_rate=r.rate("repeat_buyer_rate"),
        max_orders=r.integer("max_orders", minimum=2),
        max_items=r.integer("max_items", minimum=1),
        company_rate=r.rate("company_rate"),
        closed_account_rate=r.rate("closed_account_rate"),
        products=tuple(
            Product(
                sku=p.text("sku"),
                name=p.text("name"),
                category=p.text("category"),
                price_cents=p.integer("price_cents", minimum=0),
                warranty_months=p.integer("warranty_months", minimum=0, default=0),
            )
            for p in r.tables("products")
        ),
        consents=tuple(
            ConsentQuestion(
                purpose=c.text("purpose"),
                text_version=c.text("text_version"),
                grant_rate=c.rate("grant_rate"),
                withdraw_rate=c.rate("withdraw_rate"),
                channel=c.text("channel"),
                methods=c.weights("methods", tuple(load_methods())),
            )
            for c in r.tables("consents", required=False)
        ),
        consent_texts=tuple(
            ConsentText(
                purpose=t.text("purpose"),
                version=t.text("version"),
                text=t.text("text"),
                published_at=t.date("published_at"),
            )
            for t in r.tables("consent_texts", required=False)
        ),
        source=source,
    )
    if not scenario.products:
        raise ScenarioError(f"{source}: key 'products' must list at least one product")
    if not scenario.start <= scenario.end <= scenario.now:
        raise ScenarioError(f"{source}: dates must satisfy start <= end <= now")
    purposes = default_register().purposes
    for c in scenario.consents:
        if c.purpose not in purposes:
            raise ScenarioError(
                f"{source}: consents ask for purpose {c.purpose!r}, which the processing"
                f" register (datasets/policy/purposes.toml) does not know"
            )
    texts = {(t.purpose, t.version) for t in scenario.consent_texts}
    for c in scenario.consents:
        if (c.purpose, c.text_version) not in texts:
            raise ScenarioError(
                f"{source}: consents for {c.purpose!r} use text_version {c.text_version!r},"
                " which no [[consent_texts]] entry defines"
            )
    return scenario


class _Reader:
    """Typed access to one TOML table, with errors that name the file and key."""

    def __init__(self, raw: dict[str, Any], source: str, prefix: str = "") -> None:
        self.raw, self.source, self.prefix = raw, source, prefix

    def _fail(self, key: str, what: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: key '{self.prefix}{key}' {what}")

    def _get(self, key: str, default: Any = ...) -> Any:
        if key in self.raw:
            return self.raw[key]
        if default is ...:
            raise self._fail(key, "is missing")
        return default

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "must be a non-empty string")
        return value

    def integer(self, key: str, minimum: int | None = None, default: Any = ...,
                maximum: int | None = None) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, "must be an integer")
        if minimum is not None and value < minimum:
            raise self._fail(key, f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise self._fail(key, f"must be at most {maximum:,}")
        return value

    def rate(self, key: str) -> float:
        value = self._get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise self._fail(key, "must be a number between 0 and 1")
        return float(value)

    def date(self, key: str) -> dt.date:
        value = self._get(key)
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise self._fail(key, "must be a date like 2024-12-31")
        return value

    def weights(self, key: str, allowed: tuple[str, ...]) -> dict[str, float]:
        value = self._get(key)
        if not isinstance(value, dict) or not value:
            raise self._fail(key, "must be a table of weights")
        for name, weight in value.items():
            if name not in allowed:
                raise self._fail(f"{key}.{name}", f"is not one of {', '.join(allowed)}")
            if not isinstance(weight, int | float) or weight < 0:
                raise self._fail(f"{key}.{name}", "must be a number >= 0")
        if sum(value.values()) <= 0:
            raise self._fail(key, "must have a positive total weight")
        return {name: float(weight) for name, weight in value.items()}

    def tables(self, key: str, required: bool = True) -> list[_Reader]:
        value = self._get(key, ... if required else [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._fail(key, "must be an array of tables ([[...]])")
        return [_Reader(v, self.source, f"{key}[{i}].") for i, v in enumerate(value)]
