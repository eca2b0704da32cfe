"""Reference lists the guard and the scanner use, read from ``datasets/reference/*.toml``.

This module is the one place that reads and validates those files (errors name the file and
the key). Real company names are joined with Faker nl_NL's list of large companies, read from
the installed Faker at run time.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import ReferenceDataError

REFERENCE_DIR = DATASETS / "reference"

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LABEL = re.compile(r"^[a-z]{2,63}$")
_BANK_CODE = re.compile(r"^[A-Z]{4}$")
# Words around a company name that do not change which company it is.
_LEGAL_PREFIXES = ("koninklijke", "royal")
_LEGAL_SUFFIXES = ("bv", "nv", "vof", "cv", "holding", "groep", "group", "nederland", "benelux")


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: usable as a cache key
class Reference:
    """All reference lists, validated. Domains are lower case, bank codes upper case."""

    reserved_domains: frozenset[str]
    reserved_tlds: frozenset[str]
    free_mail: frozenset[str]
    provider_mail: frozenset[str]
    fictional_banks: tuple[str, ...]
    real_banks: dict[str, str]
    companies: dict[str, str]  # normalised name -> name as listed
    company_first_words: frozenset[str]  # the first word of each normalised name


def normalise_company(name: str) -> str:
    """A company name reduced for comparison: no accents, case, punctuation or legal form."""
    if name.isascii():
        text = name.lower()
    else:
        text = unicodedata.normalize("NFKD", name)
        text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " en ").replace("+", " en ")
    words = re.sub(r"[^a-z0-9 ]+", "", re.sub(r"[-/,]", " ", text)).split()
    while words and words[0] in _LEGAL_PREFIXES:
        words.pop(0)
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def _read(directory: Path, name: str) -> tuple[Path, dict[str, Any]]:
    path = directory / name
    data = read_toml(path, ReferenceDataError, "reference file")
    for key in ("source", "retrieved"):
        if key not in data:
            raise ReferenceDataError(
                f"{path}: key '{key}' is missing (say where the list comes from)"
            )
    if not isinstance(data["source"], str) or not data["source"].strip():
        raise ReferenceDataError(f"{path}: key 'source' must be a non-empty string")
    if not isinstance(data["retrieved"], dt.date):
        raise ReferenceDataError(f"{path}: key 'retrieved' must be a date (YYYY-MM-DD)")
    return path, data


def _strings(path: Path, data: dict[str, Any], key: str, pattern: re.Pattern[str] | None = None,
             lower: bool = True) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise ReferenceDataError(f"{path}: key '{key}' must be a non-empty list of strings")
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ReferenceDataError(f"{path}: key '{key}' item {index + 1} must be a string")
        item = item.strip().lower() if lower else item.strip()
        if pattern is not None and not pattern.match(item):
            raise ReferenceDataError(
                f"{path}: key '{key}' item {index + 1} ({item!r}) is malformed"
            )
        items.append(item)
    return items


def _faker_companies() -> tuple[str, ...]:
    """Faker nl_NL's list of real large companies, or nothing if this Faker has none."""
    try:
        from faker.providers.company.nl_NL import Provider
    except ImportError:  # pragma: no cover - depends on the installed Faker
        return ()
    return tuple(getattr(Provider, "large_companies", ()))


@functools.cache
def load_reference(directory: Path = REFERENCE_DIR) -> Reference:
    """Read and validate every reference file in `directory` (cached per directory)."""
    directory = Path(directory)
    path, data = _read(directory, "reserved_domains.toml")
    reserved_domains = _strings(path, data, "domains", _DOMAIN)
    reserved_tlds = _strings(path, data, "tlds", _LABEL)

    path, data = _read(directory, "mail_domains.toml")
    free_mail = _strings(path, data, "free_mail", _DOMAIN)
    provider_mail = _strings(path, data, "provider_mail", _DOMAIN)

    path, data = _read(directory, "fictional_banks.toml")
    fictional = _strings(path, data, "codes", _BANK_CODE, lower=False)

    path, data = _read(directory, "nl_banks.toml")
    codes = data.get("codes")
    if not isinstance(codes, dict) or not codes:
        raise ReferenceDataError(f"{path}: key 'codes' must be a table of CODE = \"bank name\"")
    real_banks: dict[str, str] = {}
    for code, bank in codes.items():
        if not _BANK_CODE.match(code) or not isinstance(bank, str) or not bank.strip():
            raise ReferenceDataError(
                f"{path}: key 'codes.{code}' must be four capitals = a bank name"
            )
        if code in fictional:
            raise ReferenceDataError(f"{path}: key 'codes.{code}' is also a fictional bank code")
        real_banks[code] = bank.strip()

    path, data = _read(directory, "companies.toml")
    names = _strings(path, data, "names", lower=False)
    companies: dict[str, str] = {}
    for name in (*_faker_companies(), *names):
        key = normalise_company(name)
        if key:
            companies.setdefault(key, name)

    return Reference(
        reserved_domains=frozenset(reserved_domains),
        reserved_tlds=frozenset(reserved_tlds),
        free_mail=frozenset(free_mail),
        provider_mail=frozenset(provider_mail),
        fictional_banks=tuple(fictional),
        real_banks=real_banks,
        companies=companies,
        company_first_words=frozenset(key.split()[0] for key in companies),
    )


@dataclass(frozen=True)
class DatedFact:
    """One legal fact that changes or could not be checked: source, date, verified or not."""

    key: str
    statement: str
    cite: str
    source: str
    retrieved: dt.date
    verified: bool
    caveat: tuple[str, ...]
    used_in: tuple[str, ...]


@functools.cache
def load_dated_facts(directory: Path = REFERENCE_DIR) -> dict[str, DatedFact]:
    """Read and validate ``dated_facts.toml`` (cached per directory)."""
    path, data = _read(Path(directory), "dated_facts.toml")
    facts = data.get("facts")
    if not isinstance(facts, dict) or not facts:
        raise ReferenceDataError(f"{path}: key 'facts' must be a table of [facts.<key>]")
    result = {}
    for key, fact in facts.items():
        where = f"{path}: key 'facts.{key}"
        if not isinstance(fact, dict):
            raise ReferenceDataError(f"{where}' must be a table")
        for name in ("statement", "cite", "source"):
            if not isinstance(fact.get(name), str) or not fact[name].strip():
                raise ReferenceDataError(f"{where}.{name}' must be a non-empty string")
        if not isinstance(fact.get("retrieved"), dt.date):
            raise ReferenceDataError(f"{where}.retrieved' must be a date (YYYY-MM-DD)")
        if not isinstance(fact.get("verified"), bool):
            raise ReferenceDataError(f"{where}.verified' must be true or false")
        lists = {}
        for name in ("caveat", "used_in"):
            value = fact.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ReferenceDataError(f"{where}.{name}' must be a list of strings")
            lists[name] = tuple(value)
        if not fact["verified"] and not lists["caveat"]:
            raise ReferenceDataError(
                f"{where}.caveat' must name the words that mark it unverified in the text")
        result[key] = DatedFact(key, fact["statement"].strip(), fact["cite"], fact["source"],
                                fact["retrieved"], fact["verified"], lists["caveat"],
                                lists["used_in"])
    return result
