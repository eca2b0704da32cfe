"""The scanner finds planted real-looking values in CSV, JSON and SQLite, and none in a sandbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main
from sandbox_cms.core.errors import ScanError
from sandbox_cms.data.guard import make_iban
from sandbox_cms.data.scan import check_value, scan_path

FIXTURES = Path(__file__).parent / "fixtures" / "import"
ABNA = "IBAN has the real bank code ABNA (ABN AMRO Bank); use a fictional bank code (XMPL, SYNT)"


def findings(path: Path) -> list[tuple[str, str, str]]:
    return [(f.where, f.kind, f.reason) for f in scan_path(path)]


def test_planted_values_in_csv_are_found_with_line_and_field():
    assert findings(FIXTURES / "planted.csv") == [
        ("planted.csv line 3, field contact", "e-mail",
         "e-mail on free-mail domain gmail.com (a real mailbox)"),
        ("planted.csv line 4, field account", "IBAN",
         ABNA),
        ("planted.csv line 5, field employer", "company", "real company name (Shell)"),
        ("planted.csv line 6, field notes", "BSN",
         "9-digit number passes the 11-proof (a possible BSN)"),
        ("planted.csv line 7, field contact", "e-mail",
         "e-mail on internet-provider domain ziggo.nl (a real mailbox)"),
    ]


def test_planted_values_in_json_are_found_with_record_and_field():
    assert findings(FIXTURES / "planted.json") == [
        ("planted.json record 2, field contact.email", "e-mail",
         "e-mail on free-mail domain gmail.com (a real mailbox)"),
        ("planted.json record 3, field payment.iban", "IBAN",
         ABNA),
        ("planted.json record 4, field sofinummer", "field name",
         "field 'sofinummer' is named like a national ID number (BSN)"),
        ("planted.json record 4, field sofinummer", "BSN",
         "9-digit number passes the 11-proof (a possible BSN)"),
        ("planted.json record 5, field company", "company", "real company name (Kruidvat)"),
    ]


def test_values_outside_objects_are_scanned_too(tmp_path):
    path = tmp_path / "list.json"
    path.write_text('["a@example.com", ["planted-refused-b@gmail.com"], 123456782]',
                    encoding="utf-8")
    assert [(f.where, f.kind) for f in scan_path(path)] == [
        ("list.json record 2, field value[0]", "e-mail"),
        ("list.json record 3, field value", "BSN"),
    ]


def test_json_lines_are_scanned(tmp_path):
    path = tmp_path / "people.jsonl"
    path.write_text('{"email": "a@example.com"}\n{"email": "b@acme-webshop.nl"}\n',
                    encoding="utf-8")
    assert findings(path) == [("people.jsonl line 2, field email", "e-mail",
                               "e-mail domain acme-webshop.nl is not a reserved example domain")]


@pytest.fixture
def planted_db(db_path: Path) -> Path:
    """A fresh sandbox with real-looking values planted in known rows."""
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE customers SET email = 'planted-refused-jan@gmail.com' WHERE id = 3")
        conn.execute("UPDATE customers SET iban = 'NL91ABNA0417164300' WHERE id = 5")
        conn.execute("UPDATE customers SET company = 'Heineken Nederland B.V.' WHERE id = 7")
        conn.execute("UPDATE invoices SET billing_street = 'Dorpsstraat 1, BSN 123456782' "
                     "WHERE id = 2")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, bsn INTEGER, body TEXT)")
        conn.execute(
            "INSERT INTO notes VALUES (9, 111222333, 'call planted-refused-kees@ziggo.nl')"
        )
    conn.close()
    return db_path


def test_planted_values_in_a_sandbox_are_found_with_table_column_and_rowid(planted_db):
    assert sorted(findings(planted_db)) == sorted([
        ("customers.email rowid 3", "e-mail",
         "e-mail on free-mail domain gmail.com (a real mailbox)"),
        ("customers.iban rowid 5", "IBAN",
         ABNA),
        ("customers.company rowid 7", "company", "real company name (Heineken)"),
        ("invoices.billing_street rowid 2", "BSN",
         "9-digit number passes the 11-proof (a possible BSN)"),
        ("notes.bsn", "field name", "field 'bsn' is named like a national ID number (BSN)"),
        ("notes.bsn rowid 9", "BSN", "9-digit number passes the 11-proof (a possible BSN)"),
        ("notes.body rowid 9", "e-mail",
         "e-mail on internet-provider domain ziggo.nl (a real mailbox)"),
    ])


def test_a_fresh_sandbox_scans_clean(db_path):
    assert findings(db_path) == []


def test_a_fresh_ebooks_sandbox_scans_clean(tmp_path):
    from sandbox_cms.data.build import build_sandbox

    db = tmp_path / "ebooks.db"
    build_sandbox(db, scenario="ebooks", customers=500, seed=7)
    assert findings(db) == []


def test_a_sandbox_stays_clean_after_an_import(db_path):
    assert run("import", str(FIXTURES / "good.csv"), "--db", str(db_path)).exit_code == 0
    assert findings(db_path) == []


def test_scan_does_not_change_the_database(planted_db):
    before = planted_db.read_bytes()
    list(scan_path(planted_db))
    assert planted_db.read_bytes() == before


@pytest.mark.parametrize(
    ("field", "value", "kinds"),
    [
        ("email", "fenna@example.com", []),
        ("email", "fenna@sub.example.org; planted-refused-jan@gmail.com", ["e-mail"]),
        ("note", "id 123456782 and 123456781", ["BSN"]),
        ("note", "hash a123456782b", []),
        ("note", "rekening NL91 ABNA 0417 1643 00 graag", ["IBAN"]),
        ("note", "rekening NL91ABNA0417164300.", ["IBAN"]),
        ("note", "test iban NL92ABNA0417164300", []),  # check digits wrong: not a real account
        ("iban", make_iban("XMPL", 1234567890), []),
        ("iban", make_iban("RABO", 1234567890), ["IBAN"]),
        ("iban", "DE89370400440532013000", ["IBAN"]),  # a valid foreign IBAN is not fictional
        ("company", "Shell", ["company"]),
        ("notes", "Shell", []),  # company names only in company-like fields
        ("amount", 123456782, ["BSN"]),
        ("amount", 12345678, []),
        ("flag", True, []),
    ],
)
def test_check_value(field, value, kinds):
    assert [kind for kind, _ in check_value(field, value)] == kinds


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.csv", b"a,b\n\xe9,1\n", "latin1.csv: not UTF-8 text"),
        ("bad.json", "[1, 2", "bad.json: line 1: invalid JSON"),
        ("broken.db", b"SQLite format 3\x00" + bytes(200), "broken.db: cannot"),
    ],
)
def test_unreadable_input_raises_scan_error(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ScanError) as info:
        list(scan_path(path))
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("content", ["", "first_name,email\n", "[]"])
def test_an_empty_file_scans_clean(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")
    assert findings(path) == []


def test_missing_file_raises_scan_error(tmp_path):
    with pytest.raises(ScanError, match="no such file"):
        scan_path(tmp_path / "nothere.csv")


# --- the CLI ---------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_exit_1_and_lists_findings(planted_db):
    result = run("scan", str(planted_db))
    assert result.exit_code == 1
    assert "customers.email rowid 3: e-mail on free-mail domain gmail.com" in result.stdout
    assert "7 finding(s): " in result.stderr


def test_cli_limit_shows_fewer_but_counts_all(planted_db):
    result = run("scan", str(planted_db), "--limit", "2")
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 2
    assert "7 finding(s) (showing 2)" in result.stderr


def test_cli_exit_0_when_clean(db_path):
    result = run("scan", str(db_path))
    assert result.exit_code == 0, result.output
    assert "clean" in result.stdout


def test_cli_exit_0_for_a_clean_file(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps([{"email": "a@example.com"}]), encoding="utf-8")
    assert run("scan", str(path)).exit_code == 0


@pytest.mark.parametrize("name", ["latin1.csv", "nothere.csv"])
def test_cli_exit_2_on_unreadable_input(name):
    result = run("scan", str(FIXTURES / name))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1


def test_cli_help_names_the_exit_statuses():
    result = run("scan", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "0 when clean, 1 when anything is found, 2 when PATH cannot be read" in text


def test_a_file_named_like_a_database_that_is_not_one_is_refused(tmp_path):
    fake = tmp_path / "shop.db"
    fake.write_text("email\nnot-a-database@example.com\n", encoding="utf-8")
    with pytest.raises(ScanError, match="named like a SQLite database but is not one"):
        list(scan_path(fake))
