"""Storage locations, transfers outside the EEA (Chapter V), and the locations CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main
from sandbox_cms.cms import Sandbox, open_sandbox
from sandbox_cms.core.errors import LocationError
from sandbox_cms.privacy.storage import (
    ADEQUACY_FILE,
    Adequacy,
    Location,
    check_transfer,
    load_adequacy,
    load_locations,
)


@pytest.fixture
def cms(db_path: Path) -> Sandbox:
    sandbox = open_sandbox(db_path)
    yield sandbox
    sandbox.close()


def _place(country: str, mechanism: str, kind: str = "processor") -> Location:
    return Location("somewhere", kind, country, "", ("contact",), mechanism)


ADEQUACY = load_adequacy()


def test_the_adequacy_list_is_dated_and_sourced() -> None:
    assert isinstance(ADEQUACY.retrieved, dt.date) and "commission" in ADEQUACY.source.lower()
    assert {"NL", "DE", "NO", "IS", "LI"} <= ADEQUACY.eea and len(ADEQUACY.eea) == 30
    assert {"CH", "GB", "JP", "US"} <= set(ADEQUACY.decisions)
    assert ADEQUACY.decisions["BR"]["verified"] is True  # 2026/179, checked 2026-12-01
    assert "2031" in ADEQUACY.decisions["GB"]["decision"]
    assert "C-703/25 P" in ADEQUACY.decisions["US"]["decision"]
    assert {"IN", "SG"} <= ADEQUACY.no_decision


def test_an_unverified_decision_is_never_taken_as_adequate(tmp_path) -> None:
    text = ADEQUACY_FILE.read_text().replace(
        'BR = { name = "Brazil", decision = "Commission Implementing Decision (EU) 2026/179 of '
        '26 January 2026", verified = true', 'BR = { name = "Brazil", decision = "Commission '
        'Implementing Decision (EU) 2026/179 of 26 January 2026", verified = false')
    path = tmp_path / "adequacy.toml"
    path.write_text(text)
    adequacy = load_adequacy(path)
    assert adequacy.unverified == {"BR"}
    verdict = check_transfer(Location("x", "processor", "BR", "", ("contact",), "adequacy"),
                             adequacy)
    assert not verdict.lawful and "not verified" in verdict.reason


def test_the_pattern_not_the_role_decides_a_derogation() -> None:
    def verdict(kind, pattern):
        return check_transfer(Location("x", kind, "IN", "", ("address",), "contract_49_1_b",
                                       pattern=pattern), ADEQUACY).lawful

    assert verdict("processor", "occasional") and verdict("recipient", "occasional")
    assert not verdict("recipient", "systematic") and not verdict("processor", "systematic")
    assert verdict("recipient", None) and not verdict("processor", None)  # the old default


@pytest.mark.parametrize(("country", "mechanism", "kind", "lawful", "cited"), [
    ("CH", "adequacy", "backup", True, "art. 45"),
    ("US", "adequacy:dpf", "processor", True, "2023/1795"),
    ("US", "adequacy", "processor", False, "Data Privacy Framework"),
    ("IN", "adequacy", "processor", False, "no adequacy decision for IN"),
    ("IN", "none", "backup", False, "art. 44"),
    ("IN", "scc", "processor", True, "46(2)(c)"),
    ("IN", "bcr", "processor", True, "47"),
    ("IN", "consent_49_1_a", "processor", False, "occasional"),
    ("IN", "contract_49_1_b", "recipient", True, "49(1)(b)"),
    ("CH", "adequacy:dpf", "processor", False, "does not apply"),
])
def test_transfer_verdicts(country: str, mechanism: str, kind: str, lawful: bool,
                           cited: str) -> None:
    check = check_transfer(_place(country, mechanism, kind), ADEQUACY)
    assert check is not None and check.lawful is lawful and cited in check.reason
    assert check.country == country and check.mechanism == mechanism


def test_inside_the_eea_there_is_no_transfer() -> None:
    assert check_transfer(_place("DE", "none"), ADEQUACY) is None
    assert check_transfer(_place("NO", "none"), ADEQUACY) is None


def test_shipped_locations_load_and_are_installed(cms: Sandbox) -> None:
    shipped = load_locations()
    kinds = {loc.kind for loc in shipped}
    assert kinds == {"primary", "backup", "processor", "recipient"}
    installed = cms.storage.locations()
    assert [(loc.name, loc.country, loc.transfer_mechanism) for loc in installed] == [
        (loc.name, loc.country, loc.transfer_mechanism) for loc in shipped]
    checks = cms.storage.check_transfers()
    assert {c.location for c in checks} == {"backup-zurich", "mail-service"}
    assert all(c.lawful for c in checks)


def test_an_unlawful_location_in_the_sandbox_is_reported(cms: Sandbox) -> None:
    from sandbox_cms.core.scope import system

    with system(cms.connection):  # the register is the CMS's own table
        cms.connection.execute(
            "INSERT INTO storage_locations VALUES ('cheap-backup', 'backup', 'IN', 'Mumbai',"
            " '[\"contact\"]', 'none')")
    bad = [c for c in cms.storage.check_transfers() if not c.lawful]
    assert [(c.location, c.country) for c in bad] == [("cheap-backup", "IN")]


@pytest.mark.parametrize(("entry", "message"), [
    ('name = "x"\nkind = "cloud"\ncountry = "NL"\nregion = "A"\ncategories = ["contact"]\n'
     'transfer_mechanism = "none"', "key 'kind' must be one of"),
    ('name = "x"\nkind = "backup"\ncountry = "Netherlands"\nregion = "A"\n'
     'categories = ["contact"]\ntransfer_mechanism = "none"', "key 'country' must be"),
    ('name = "x"\nkind = "backup"\ncountry = "US"\nregion = "A"\ncategories = ["contact"]\n'
     'transfer_mechanism = "privacy_shield"', "key 'transfer_mechanism' must be one of"),
    ('name = "x"\nkind = "backup"\ncountry = "NL"\nregion = "A"\ncategories = []\n'
     'transfer_mechanism = "none"', "key 'categories'"),
    ('kind = "backup"\ncountry = "NL"\nregion = "A"\ncategories = ["contact"]\n'
     'transfer_mechanism = "none"', "key 'name'"),
])
def test_a_bad_location_names_file_and_key(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "locations.toml"
    path.write_text("[[locations]]\n" + entry + "\n")
    with pytest.raises(LocationError, match=message) as info:
        load_locations(path)
    assert str(path) in str(info.value)


def test_a_bad_adequacy_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "adequacy.toml"
    path.write_text('source = "x"\nretrieved = 2026-01-01\neea = ["NL"]\n'
                    '[adequacy]\nNL = { name = "Netherlands", decision = "x" }\n')
    with pytest.raises(LocationError, match="is in the EEA"):
        load_adequacy(path)
    path.write_text('eea = ["NL"]\n[adequacy]\n')
    with pytest.raises(LocationError, match="key 'source'"):
        load_adequacy(path)
    assert isinstance(load_adequacy(), Adequacy)


def test_cli_locations(db_path: Path) -> None:
    result = CliRunner().invoke(main, ["locations", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "backup-zurich" in result.output and "lawful" in result.output
    assert "inside the EEA" in result.output


def test_locations_changed_into_non_json_are_a_clear_error(cms: Sandbox) -> None:
    import sqlite3

    conn = sqlite3.connect(cms.path)
    conn.execute("UPDATE storage_locations SET categories = 'oops' WHERE name = 'primary'")
    conn.commit()
    conn.close()
    with pytest.raises(LocationError, match="'primary' in this sandbox has no readable list"):
        cms.storage.locations()
