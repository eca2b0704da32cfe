"""Import is all or nothing: refused rows are all reported, bad files leave the db untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main
from sandbox_cms.core.errors import ImportRefused, NotASandbox, RecordFileError, SandboxError
from sandbox_cms.data.importer import import_customers

FIXTURES = Path(__file__).parent / "fixtures" / "import"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def customers(db: Path, where: str = "1", params: tuple = ()) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM customers WHERE {where}", params)]
    finally:
        conn.close()


def scalar(db: Path, sql: str, params: tuple = ()):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def unchanged(db_path: Path):
    """Assert the sandbox file is byte for byte the same after the test body."""
    before = digest(db_path)
    yield db_path
    assert digest(db_path) == before, "the database changed"


@pytest.mark.parametrize("name", ["good.csv", "good.json", "good.jsonl"])
def test_good_file_is_imported_with_provenance(db_path, name):
    count = scalar(db_path, "SELECT count(*) FROM customers")
    clock = scalar(db_path, "SELECT value FROM meta WHERE key = 'clock_now'")
    result = import_customers(db_path, FIXTURES / name)

    assert result.inserted == 3
    assert scalar(db_path, "SELECT count(*) FROM customers") == count + 3
    provenance = json.loads(
        scalar(db_path, "SELECT detail FROM provenance WHERE id = ? AND source = 'import'",
               (result.provenance_id,))
    )
    assert provenance["file"] == name
    assert provenance["sha256"] == digest(FIXTURES / name) == result.sha256
    rows = customers(db_path, "provenance_id = ?", (result.provenance_id,))
    assert sorted(r["email"] for r in rows) == [
        "ans.deboog@trampoline.test", "fenna.veerman@example.com", "joris@shop.example.net"]
    ans = next(r for r in rows if r["first_name"] == "Ans")
    assert ans["created_at"] == clock  # from the sandbox clock, not today's date
    assert ans["country"] == "NL" and ans["iban"] is None and ans["street"] is None
    assert sorted(r["id"] for r in rows) == sorted(result.customer_ids)


def test_given_created_at_is_kept(db_path):
    result = import_customers(db_path, FIXTURES / "good.csv")
    fenna = customers(db_path, "id = ?", (result.customer_ids[0],))[0]
    assert fenna["created_at"] == "2024-05-01T10:00:00"
    assert fenna["iban"] == "NL24XMPL1234567890"


def test_refused_rows_are_all_reported_and_nothing_is_written(unchanged):
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, FIXTURES / "refused.csv")
    assert info.value.refusals == [
        "line 3: e-mail domain gmail.com is not a reserved example domain",
        "line 5: IBAN has the real bank code ABNA (ABN AMRO Bank); "
        "use a fictional bank code (XMPL, SYNT)",
        "line 6: company 'Shell Nederland B.V.' is a real company (Shell)",
        "line 7: field 'phone' holds a 9-digit number that passes the 11-proof (a possible BSN)",
    ]


def test_json_lines_refusals_name_the_line(unchanged):
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, FIXTURES / "refused.jsonl")
    assert info.value.refusals == [
        "line 2: field 'bsn' holds a national ID number",
        "line 3: e-mail domain hotmail.com is not a reserved example domain",
    ]


def test_json_array_refusals_name_the_record(tmp_path, unchanged):
    path = tmp_path / "people.json"
    path.write_text(json.dumps([
        {"first_name": "A", "last_name": "B", "email": "a@example.com"},
        {"first_name": "C", "last_name": "D", "email": "c@example.com", "house_number": 7},
        {"first_name": "E", "email": "e@example.com"},
        "not an object",
    ]), encoding="utf-8")
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, path)
    assert info.value.refusals == [
        "record 2: field 'house_number' must be text, not a number",
        "record 3: required field 'last_name' is missing",
        "record 4: is not a JSON object but str",
    ]


def test_duplicate_email_in_the_file(tmp_path, unchanged):
    path = tmp_path / "dup.csv"
    path.write_text("first_name,last_name,email\nA,B,a@example.com\nC,D,A@Example.com\n",
                    encoding="utf-8")
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, path)
    assert info.value.refusals == ["line 3: e-mail is a duplicate of line 2"]


def test_duplicate_email_already_in_the_sandbox(tmp_path, unchanged):
    existing_id, existing_email = sqlite3.connect(unchanged).execute(
        "SELECT id, email FROM customers ORDER BY id LIMIT 1").fetchone()
    path = tmp_path / "dup.csv"
    path.write_text(f"first_name,last_name,email\nA,B,a@example.com\nC,D,{existing_email.upper()}\n",
                    encoding="utf-8")
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, path)
    assert info.value.refusals == [f"line 3: e-mail already belongs to customer {existing_id}"]


def test_importing_the_same_file_twice_is_refused(db_path):
    import_customers(db_path, FIXTURES / "good.csv")
    before = digest(db_path)
    with pytest.raises(ImportRefused, match="already belongs to customer"):
        import_customers(db_path, FIXTURES / "good.csv")
    assert digest(db_path) == before


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty.csv: the file is empty"),
        ("header.csv", "first_name,last_name,email\n", "header.csv: holds no records"),
        ("blank.csv", "\n\n", "blank.csv: line 1: the header row is empty"),
        ("nolast.csv", "first_name,email\nA,a@example.com\n",
         "nolast.csv: missing required column(s): last_name"),
        ("shoes.csv", "first_name,last_name,email,shoe_size\nA,B,a@example.com,44\n",
         "shoes.csv: unknown column(s): shoe_size"),
        ("dupcol.csv", "first_name,last_name,email,email\nA,B,a@example.com,b@example.com\n",
         "dupcol.csv: line 1: duplicate column(s): email"),
        ("bad.json", '[{"first_name": "A", "last_name": "B", "email": "a@example.com"},\n oops]',
         "bad.json: line 2: invalid JSON"),
        ("trunc.json", '[{"first_name": "A", "last_name": "B", "email": "a@example.com"}',
         "trunc.json: line 1: invalid JSON (the list never ends)"),
        ("empty.json", "[]", "empty.json: holds no records"),
        ("bad.jsonl", '{"first_name": "A"}\n{"first_name": \n', "bad.jsonl: line 2: invalid JSON"),
        ("db.json", b"SQLite format 3\x00" + bytes(100), "db.json: is a SQLite database"),
        ("utf16.csv", "first_name,last_name,email\n".encode("utf-16"), "utf16.csv: not UTF-8 text"),
    ],
)
def test_malformed_files_get_one_line_errors(tmp_path, unchanged, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(RecordFileError) as info:
        import_customers(unchanged, path)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_a_csv_row_with_too_many_or_too_few_fields_is_refused(tmp_path, unchanged):
    path = write(tmp_path / "ragged.csv",
                 "first_name,last_name,email\nA,B,a@example.com,x\nC,D\n")
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, path)
    assert info.value.refusals == ["line 2: has 4 fields, the header has 3",
                                   "line 3: has 2 fields, the header has 3"]


def test_control_characters_are_refused(tmp_path, unchanged):
    path = write(tmp_path / "nul.csv", "first_name,last_name,email\nA,B\x00,a@example.com\n")
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, path)
    assert info.value.refusals == ["line 2: field 'last_name' holds a control character"]


def test_csv_line_numbers_are_physical_lines(tmp_path, unchanged):
    path = write(tmp_path / "multi.csv",
                 'first_name,last_name,email,street\nA,B,a@example.com,"Lange\nStraat"\n'
                 "C,D,planted-refused-c@gmail.com,\n")
    with pytest.raises(ImportRefused) as info:
        import_customers(unchanged, path)
    assert info.value.refusals == [
        "line 4: e-mail domain gmail.com is not a reserved example domain"]


def test_latin1_file_is_refused(unchanged):
    with pytest.raises(RecordFileError, match=r"latin1.csv: not UTF-8 text \(byte 0xe9"):
        import_customers(unchanged, FIXTURES / "latin1.csv")


def test_a_file_over_100_mb_is_refused_before_reading(tmp_path, unchanged):
    big = tmp_path / "huge.csv"
    with big.open("wb") as fh:  # a sparse file: 100 MB + 1 byte without writing them
        fh.truncate(100 * 1024 * 1024 + 1)
    with pytest.raises(RecordFileError, match="huge.csv: the file is 100.0 MB, more than the "
                                              "limit of 100 MB; split it into smaller files"):
        import_customers(unchanged, big)


def test_too_many_records_are_refused(tmp_path, unchanged):
    rows = "".join(f"A,B,a{i}@example.com\n" for i in range(11))
    path = write(tmp_path / "many.csv", "first_name,last_name,email\n" + rows)
    with pytest.raises(RecordFileError, match="many.csv: more than 10 records; split the file"):
        import_customers(unchanged, path, max_records=10)


def test_json_array_is_streamed_across_chunks(tmp_path, db_path, monkeypatch):
    import sandbox_cms.data.records as records

    monkeypatch.setattr(records, "_CHUNK", 7)
    people = [{"first_name": "Ä" * (i % 5 + 1), "last_name": "B", "email": f"p{i}@example.com",
               "house_number": str(10**i)} for i in range(20)]
    path = write(tmp_path / "people.json", json.dumps(people, indent=2))
    assert import_customers(db_path, path).inserted == 20


@pytest.mark.parametrize("content", ["not a database", b"SQLite format 3\x00" + bytes(4000)])
def test_a_file_that_is_not_a_sandbox(tmp_path, content):
    db = write(tmp_path / "other.db", content)
    before = digest(db)
    with pytest.raises(NotASandbox):
        import_customers(db, FIXTURES / "good.csv")
    assert digest(db) == before


def test_a_sqlite_db_without_sandbox_tables(tmp_path):
    db = tmp_path / "plain.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(NotASandbox, match="not a sandbox"):
        import_customers(db, FIXTURES / "good.csv")


def test_missing_sandbox(tmp_path):
    with pytest.raises(NotASandbox, match="no such sandbox database"):
        import_customers(tmp_path / "nothere.db", FIXTURES / "good.csv")


# --- the CLI ---------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_imports_and_reports(db_path):
    count = scalar(db_path, "SELECT count(*) FROM customers")
    result = run("import", str(FIXTURES / "good.jsonl"), "--db", str(db_path))
    assert result.exit_code == 0, result.output
    assert "Imported 3 customer(s) from good.jsonl" in result.output
    assert scalar(db_path, "SELECT count(*) FROM customers") == count + 3


def test_cli_lists_every_refusal_and_exits_non_zero(unchanged):
    result = run("import", str(FIXTURES / "refused.csv"), "--db", str(unchanged))
    assert result.exit_code == 1
    assert "line 3: e-mail domain gmail.com is not a reserved example domain" in result.stderr
    assert "line 7: field 'phone' holds" in result.stderr
    assert "Error: 4 refusal(s) in" in result.stderr
    assert "nothing was imported" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("latin1.csv", "latin1.csv: not UTF-8 text"),
        ("missing.csv", "missing.csv: no such file"),
    ],
)
def test_cli_bad_file_is_one_line(unchanged, file, message):
    result = run("import", str(FIXTURES / file), "--db", str(unchanged))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {message}")
    assert result.stderr.count("\n") == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_not_a_sandbox(tmp_path):
    result = run("import", str(FIXTURES / "good.csv"), "--db", str(FIXTURES / "good.csv"))
    assert result.exit_code == 1
    assert "good.csv: not a SQLite database, so not a sandbox" in result.stderr


def test_cli_help_explains_the_rules():
    result = run("import", "--help")
    assert result.exit_code == 0
    assert "all or nothing" in result.output and "--db" in result.output


def test_import_is_in_the_audit_log_without_values(db_path):
    from sandbox_cms.privacy import audit

    result = import_customers(db_path, FIXTURES / "good.csv")
    conn = sqlite3.connect(db_path)
    try:
        assert audit.verify(conn).ok
        row = conn.execute("SELECT actor, action, table_name, columns, row_ids, detail "
                           "FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    actor, action, table, columns, row_ids, detail = row
    assert (actor, action, table) == ("import", "import", "customers")
    assert json.loads(row_ids) == sorted(result.customer_ids)
    assert "customers.email" in json.loads(columns)
    assert json.loads(detail)["sha256"] == result.sha256
    assert "example" not in row_ids + columns + detail  # ids and column names, no e-mails


def test_a_locked_sandbox_is_a_clear_error_and_nothing_is_written(db_path, monkeypatch):
    import sandbox_cms.data.importer as importer

    original = importer.connect_sandbox

    def impatient(path):
        conn = original(path)
        conn.execute("PRAGMA busy_timeout = 0")  # fail at once instead of waiting 5 s
        return conn

    monkeypatch.setattr(importer, "connect_sandbox", impatient)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(SandboxError, match="the import failed and nothing was written"):
            import_customers(db_path, FIXTURES / "good.csv")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert not customers(db_path, "email = ?", ("fenna.veerman@example.com",))
