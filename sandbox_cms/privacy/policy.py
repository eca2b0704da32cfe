"""The processing register (art. 30) and the data categories, read from ``datasets/policy/``.

This module is the one place that reads and validates the policy files:

- ``categories.toml``: which columns are personal data, grouped in categories;
- ``purposes.toml``: the purposes, their legal ground and the columns each may use;
- ``retention.toml`` and ``locations.toml`` (their format is documented in the files): read
  and validated by ``retention.load_rules`` and ``storage.load_locations``, then copied into
  the sandbox by ``sandbox_cms.privacy.install.install_policy``, which fails on a bad
  rule or location.

Errors name the file and the key. A column the files name but the schema lacks is an error;
a schema column the files forget is treated as personal data (refused unless a purpose lists
it) and reported by :func:`unclassified_columns`, which the tests keep empty.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox_cms.core import schema
from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import PolicyError, UnknownPurpose

POLICY_DIR = DATASETS / "policy"

LEGAL_GROUNDS: dict[str, str] = {
    "consent": "6(1)(a)",
    "contract": "6(1)(b)",
    "legal_obligation": "6(1)(c)",
    "vital_interests": "6(1)(d)",
    "public_task": "6(1)(e)",
    "legitimate_interests": "6(1)(f)",
    "synthetic_only": "none needed: no real person (recital 26)",
}


@dataclass(frozen=True)
class Category:
    name: str
    description: str
    columns: frozenset[str]
    personal: bool = True


@dataclass(frozen=True)
class Purpose:
    """One entry of the processing register."""

    name: str
    title: str
    legal_ground: str
    article: str
    columns: frozenset[str]  # expanded 'table.column' names
    retention: str | None
    description: str
    internal: bool = False

    def allows(self, column: str) -> bool:
        return column in self.columns


@dataclass(frozen=True)
class Register:
    """The purposes and categories, with the set of personal columns derived from them."""

    purposes: dict[str, Purpose]
    categories: dict[str, Category]
    personal_columns: frozenset[str]  # 'table.column'; includes unclassified schema columns
    not_personal_tables: frozenset[str]

    def purpose(self, name: str) -> Purpose:
        """The purpose called ``name``; :class:`UnknownPurpose` lists the known ones."""
        try:
            return self.purposes[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self.purposes))
            shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
            raise UnknownPurpose(f"unknown purpose {shown}: the register knows {known}") from None

    def category_of(self, column: str) -> str | None:
        for category in self.categories.values():
            if column in category.columns:
                return category.name
        return None

    def is_personal(self, column: str) -> bool:
        return column in self.personal_columns


@functools.cache
def schema_columns() -> dict[str, tuple[str, ...]]:
    """Every table of the sandbox schema with its columns, in order."""
    conn = sqlite3.connect(":memory:")
    try:
        schema.create_tables(conn)
        return {
            table: tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table})"))
            for table in schema.TABLES
        }
    finally:
        conn.close()


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, PolicyError, "policy file")


def _text(raw: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{where}.{key}' must be a non-empty string")
    return value


def _string_list(raw: dict[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}.{key}' must be a list of strings")
    return value


def _expand(names: list[str], where: str, tables: dict[str, tuple[str, ...]]) -> set[str]:
    """Check 'table.column' / 'table.*' names against the schema and expand the stars."""
    result: set[str] = set()
    for name in names:
        table, _, column = name.partition(".")
        if table not in tables:
            raise PolicyError(f"{where}' names {name!r}: there is no table {table!r}")
        if column == "*":
            result.update(f"{table}.{c}" for c in tables[table])
        elif column in tables[table]:
            result.add(name)
        else:
            raise PolicyError(f"{where}' names {name!r}: table {table!r} has no column {column!r}")
    return result


def load_categories(path: Path | None = None) -> tuple[dict[str, Category], frozenset[str]]:
    """Read ``categories.toml``: the categories and the tables that hold no personal data."""
    path = path or POLICY_DIR / "categories.toml"
    raw = _read_toml(path)
    tables = schema_columns()
    not_personal = _string_list(raw.get("not_personal", {}), "tables", f"{path}: key 'not_personal")
    for table in not_personal:
        if table not in tables:
            raise PolicyError(f"{path}: key 'not_personal.tables' names unknown table {table!r}")
    entries = raw.get("categories")
    if not isinstance(entries, dict) or not entries:
        raise PolicyError(f"{path}: key 'categories' must hold at least one [categories.<name>]")
    categories: dict[str, Category] = {}
    seen: dict[str, str] = {}
    for name, entry in entries.items():
        where = f"{path}: key 'categories.{name}"
        if not isinstance(entry, dict):
            raise PolicyError(f"{where}' must be a table")
        columns = _expand(_string_list(entry, "columns", where), f"{where}.columns", tables)
        for column in columns:
            if column.partition(".")[0] in not_personal:
                raise PolicyError(f"{where}.columns' names {column!r}, whose table is not_personal")
            if column in seen:
                raise PolicyError(f"{where}.columns' names {column!r}, already in {seen[column]!r}")
            seen[column] = name
        personal = entry.get("personal", True)
        if not isinstance(personal, bool):
            raise PolicyError(f"{where}.personal' must be true or false")
        categories[name] = Category(
            name, _text(entry, "description", where) or "", frozenset(columns), personal
        )
    return categories, frozenset(not_personal)


def load_register(
    purposes_path: Path | None = None, categories_path: Path | None = None
) -> Register:
    """Read and validate the register from ``datasets/policy/`` (or the given files)."""
    purposes_path = purposes_path or POLICY_DIR / "purposes.toml"
    categories, not_personal = load_categories(categories_path)
    tables = schema_columns()
    raw = _read_toml(purposes_path)
    entries = raw.get("purposes")
    if not isinstance(entries, dict) or not entries:
        raise PolicyError(
            f"{purposes_path}: key 'purposes' must hold at least one [purposes.<name>]"
        )
    rules = retention_rule_names()
    purposes: dict[str, Purpose] = {}
    for name, entry in entries.items():
        where = f"{purposes_path}: key 'purposes.{name}"
        if not isinstance(entry, dict):
            raise PolicyError(f"{where}' must be a table")
        ground = _text(entry, "legal_ground", where)
        if ground not in LEGAL_GROUNDS:
            raise PolicyError(
                f"{where}.legal_ground' is {ground!r}, not one of {', '.join(LEGAL_GROUNDS)}"
            )
        columns = _expand(_string_list(entry, "columns", where), f"{where}.columns", tables)
        for category in _string_list(entry, "categories", where):
            if category not in categories:
                raise PolicyError(f"{where}.categories' names unknown category {category!r}")
            columns |= categories[category].columns
        retention = _text(entry, "retention", where, required=False)
        if retention is not None and rules is not None and retention not in rules:
            raise PolicyError(
                f"{where}.retention' names {retention!r}, which retention.toml does not define"
            )
        internal = entry.get("internal", False)
        if not isinstance(internal, bool):
            raise PolicyError(f"{where}.internal' must be true or false")
        purposes[name] = Purpose(
            name=name,
            title=_text(entry, "title", where) or name,
            legal_ground=ground,
            article=_text(entry, "article", where) or "",
            columns=frozenset(columns),
            retention=retention,
            description=_text(entry, "description", where) or "",
            internal=internal,
        )
    return Register(purposes, categories, _personal_columns(categories, not_personal), not_personal)


def _personal_columns(
    categories: dict[str, Category], not_personal: frozenset[str]
) -> frozenset[str]:
    not_personal_columns = {
        c for cat in categories.values() if not cat.personal for c in cat.columns
    }
    return frozenset(
        f"{table}.{column}"
        for table, columns in schema_columns().items()
        if table not in not_personal
        for column in columns
        if f"{table}.{column}" not in not_personal_columns
    )


def unclassified_columns(register: Register) -> list[str]:
    """Schema columns that no category and no not_personal table covers."""
    classified = {c for cat in register.categories.values() for c in cat.columns}
    return sorted(
        f"{table}.{column}"
        for table, columns in schema_columns().items()
        if table not in register.not_personal_tables
        for column in columns
        if f"{table}.{column}" not in classified
    )


@functools.cache
def default_register() -> Register:
    """The register shipped in ``datasets/policy/`` (read once per process)."""
    return load_register()


# -- retention rules and storage locations (owned by their modules; copied in here) ---------

POLICY_FILES = ("purposes.toml", "categories.toml", "retention.toml", "locations.toml")
FINGERPRINT_KEY = "policy_fingerprint"
STORED_KEY = "policy_stored_fingerprint"
"""``meta`` key of :func:`stored_fingerprint` as :func:`install_policy` wrote it: a register,
schedule or location list edited in the database afterwards no longer matches it."""
STORED_TABLES = ("purposes", "retention_rules", "storage_locations")


@functools.cache
def fingerprint() -> str:
    """A hash of the shipped policy files: a sandbox whose register differs is updated."""
    digest = hashlib.sha256()
    for name in POLICY_FILES:
        path = POLICY_DIR / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
    return digest.hexdigest()


def stored_fingerprint(conn: sqlite3.Connection) -> str:
    """A hash of the policy as stored in a sandbox (register, retention rules, locations)."""
    digest = hashlib.sha256()
    for table in STORED_TABLES:
        digest.update(table.encode() + b"\0")
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):  # noqa: S608
            digest.update(json.dumps(row, default=str).encode() + b"\n")
    return digest.hexdigest()


RETENTION_KEYS = ("name", "category", "period_days", "runs_from", "action", "legal_reason",
                  "period_years", "counted_from", "financial_year_end")
LOCATION_KEYS = ("name", "kind", "country", "region", "categories", "transfer_mechanism")


def _entries(path: Path, key: str, required: tuple[str, ...]) -> list[dict[str, Any]] | None:
    if not path.is_file():
        return None
    raw = _read_toml(path).get(key, [])
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise PolicyError(f"{path}: key '{key}' must be an array of tables ([[{key}]])")
    for i, entry in enumerate(raw):
        for name in required:
            if name not in entry:
                raise PolicyError(f"{path}: key '{key}[{i}].{name}' is missing")
    return raw


def retention_rule_names() -> frozenset[str] | None:
    """Names of the rules in retention.toml, or None while that file does not exist."""
    rules = _entries(POLICY_DIR / "retention.toml", "rules", ("name",))
    return None if rules is None else frozenset(r["name"] for r in rules)
