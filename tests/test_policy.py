"""The processing register and data categories: loading, validation, installation."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from pathlib import Path

import pytest

from sandbox_cms.core import schema
from sandbox_cms.core.errors import LocationError, PolicyError, RetentionError, UnknownPurpose
from sandbox_cms.privacy.install import install_policy
from sandbox_cms.privacy.policy import (
    POLICY_DIR,
    default_register,
    load_register,
    unclassified_columns,
)

DIRECT_IDENTIFIERS = {
    "customers.first_name", "customers.last_name", "customers.email", "customers.phone",
    "customers.street", "customers.house_number", "customers.postcode", "customers.iban",
    "customers.birth_date", "invoices.billing_name", "invoices.billing_street",
}


def test_every_schema_column_is_classified_exactly_once():
    assert unclassified_columns(default_register()) == []


def test_register_holds_the_purposes_of_the_course_with_their_grounds():
    purposes = default_register().purposes
    expected = {
        "order_fulfilment": "contract", "invoicing": "legal_obligation", "warranty": "contract",
        "customer_service": "contract", "newsletter": "consent", "antipiracy_sharing": "consent",
        "analytics": "legitimate_interests", "training": "synthetic_only",
        "dsr_access": "legal_obligation", "dsr_erasure": "legal_obligation",
        "retention_enforcement": "legal_obligation", "consent_administration": "legal_obligation",
    }
    for name, ground in expected.items():
        assert purposes[name].legal_ground == ground, name
        assert purposes[name].article and purposes[name].description


def test_minimisation_is_visible_in_the_register():
    purposes = default_register().purposes
    assert not purposes["analytics"].columns & DIRECT_IDENTIFIERS
    assert purposes["newsletter"].columns & DIRECT_IDENTIFIERS == {
        "customers.first_name", "customers.email"}
    assert "customers.birth_date" not in purposes["order_fulfilment"].columns
    assert "customers.email" not in purposes["invoicing"].columns
    assert "invoices.billing_name" in purposes["invoicing"].columns


def test_stars_and_categories_expand_to_real_columns():
    newsletter = default_register().purpose("newsletter")
    assert "consent_events.text_version" in newsletter.columns  # from consent_events.*
    fulfilment = default_register().purpose("order_fulfilment")
    assert {"customers.street", "customers.city"} <= fulfilment.columns  # category address


def test_retention_rules_named_by_purposes_exist():
    rules_file = POLICY_DIR / "retention.toml"
    if not rules_file.exists():
        pytest.skip("no retention schedule yet")
    names = {r["name"] for r in tomllib.loads(rules_file.read_text())["rules"]}
    for purpose in default_register().purposes.values():
        assert purpose.retention is None or purpose.retention in names, purpose.name


def test_provenance_is_not_personal_but_a_customer_id_is():
    register = default_register()
    assert not register.is_personal("customers.provenance_id")
    assert register.is_personal("orders.customer_id")
    assert not register.is_personal("products.name")
    assert register.category_of("customers.iban") == "financial"


def test_unknown_purpose_lists_the_known_ones():
    with pytest.raises(UnknownPurpose, match="unknown purpose 'marketing'.*newsletter"):
        default_register().purpose("marketing")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "purposes.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[purposes.p]
title = "P"
legal_ground = "contract"
article = "6(1)(b)"
description = "d"
columns = ["customers.email"]
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"customers.email"', '"customers.shoe_size"'),
         r"purposes.p.columns' names 'customers.shoe_size': table 'customers' has no column"),
        (('"customers.email"', '"clients.email"'), "there is no table 'clients'"),
        (('"contract"', '"because"'), r"purposes.p.legal_ground' is 'because'"),
        (('columns = ["customers.email"]', 'categories = ["gossip"]'), "unknown category 'gossip'"),
        (('title = "P"', 'title = ""'), r"purposes.p.title' must be a non-empty string"),
        (('description = "d"', 'description = "d"\nretention = "forever"'),
         "'forever', which retention.toml does not define"),
        (('[purposes.p]', '[purposes.p'), "not valid TOML"),
    ],
)
def test_bad_purpose_files_are_refused_naming_file_and_key(tmp_path, change, message):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(PolicyError, match=message) as raised:
        load_register(path)
    assert str(path) in str(raised.value)


def test_a_good_file_loads(tmp_path):
    register = load_register(_write(tmp_path, GOOD))
    assert register.purpose("p").columns == {"customers.email"}


def test_a_column_in_two_categories_is_refused(tmp_path):
    text = (POLICY_DIR / "categories.toml").read_text()
    text += '\n[categories.twice]\ndescription = "x"\ncolumns = ["customers.email"]\n'
    path = tmp_path / "categories.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match="categories.twice.columns' names 'customers.email'"):
        load_register(categories_path=path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(PolicyError, match="policy file is missing"):
        load_register(tmp_path / "nope.toml")


def test_install_policy_writes_the_register_into_a_database():
    conn = sqlite3.connect(":memory:")
    schema.create_tables(conn)
    install_policy(conn)
    install_policy(conn)  # replaces, does not duplicate
    rows = dict(conn.execute("SELECT name, columns FROM purposes").fetchall())
    assert set(rows) == set(default_register().purposes)
    assert set(json.loads(rows["newsletter"])) == default_register().purpose("newsletter").columns
    if (POLICY_DIR / "retention.toml").exists():
        assert conn.execute("SELECT count(*) FROM retention_rules").fetchone()[0] > 0


def test_cli_register_lists_purposes_and_shows_one(db_path):
    from click.testing import CliRunner

    from sandbox_cms.cli import main

    runner = CliRunner()
    listing = runner.invoke(main, ["register", "--db", str(db_path)])
    assert listing.exit_code == 0
    assert "newsletter" in listing.output and "art. 6(1)(a)" in listing.output
    one = runner.invoke(main, ["register", "--purpose", "analytics"])
    assert "legal ground: legitimate_interests" in one.output
    assert "customers: closed_at, country, created_at, id\n" in one.output
    bad = runner.invoke(main, ["register", "--purpose", "marketing"])
    assert bad.exit_code == 1 and "unknown purpose 'marketing'" in bad.output
    assert "Traceback" not in bad.output


def _policy_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the shipped policy folder in which one file has ``old`` replaced by ``new``."""
    folder = tmp_path / "policy"
    folder.mkdir()
    for path in POLICY_DIR.glob("*.toml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    text = (folder / name).read_text(encoding="utf-8")
    assert old in text
    (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(("name", "old", "new", "error", "message"), [
    ("retention.toml", "period_years = 7", "period_years = -1", RetentionError,
     r"retention.toml: rules #1 \(invoices\): key 'period_years' must be a whole number"),
    ("retention.toml", 'runs_from = "invoice_date"', 'runs_from = "last_login"', RetentionError,
     r"retention.toml: rules #1 \(invoices\): key 'runs_from' is 'last_login'"),
    ("locations.toml", 'country = "NL"', 'country = "Netherlands"', LocationError,
     r"locations.toml: locations 'primary': key 'country' must be a two-letter code"),
    ("locations.toml", 'categories = ["identity", "contact"]',
     'categories = ["identity", "gossip"]', PolicyError,
     r"locations.toml: locations 'mail-service': key 'categories' names 'gossip'"),
])
def test_install_policy_validates_rules_and_locations_and_writes_nothing(
        tmp_path, name, old, new, error, message):
    folder = _policy_copy(tmp_path, name, old, new)
    conn = sqlite3.connect(":memory:")
    schema.create_tables(conn)
    with pytest.raises(error, match=message):
        install_policy(conn, retention_file=folder / "retention.toml",
                       locations_file=folder / "locations.toml")
    for table in ("purposes", "retention_rules", "storage_locations", "meta"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_a_bad_retention_rule_fails_the_build_and_leaves_no_database(tmp_path, monkeypatch):
    from sandbox_cms.data.build import build_sandbox
    from sandbox_cms.privacy import policy

    folder = _policy_copy(tmp_path, "retention.toml", 'action = "delete"', 'action = "shred"')
    monkeypatch.setattr(policy, "POLICY_DIR", folder)
    target = tmp_path / "shop.db"
    with pytest.raises(RetentionError, match=r"retention.toml: rules #1 .*key 'action' is 'shred'"):
        build_sandbox(target, customers=20)
    assert not target.exists() and not list(tmp_path.glob(".shop.db.*"))


def test_an_unknown_purpose_of_any_length_or_type_is_one_short_line():
    register = default_register()
    for name in ("é" * 5000, "x'; DROP TABLE purposes; --", None, 42):
        with pytest.raises(UnknownPurpose) as error:
            register.purpose(name)
        message = str(error.value)
        assert message.startswith("unknown purpose ") and "\n" not in message
        assert len(message) < 100 + len(", ".join(register.purposes))
