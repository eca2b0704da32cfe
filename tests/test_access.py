"""Purpose-bound access: the authorizer covers every way SQL can reach a column."""

from __future__ import annotations

import sqlite3

import pytest

from sandbox_cms import open_sandbox
from sandbox_cms.core.errors import ProcessingError, PurposeViolation, UnknownPurpose

# Each statement reaches customers.birth_date, which the newsletter purpose may not use.
REACHES_BIRTH_DATE = {
    "select *": "SELECT * FROM customers WHERE id = 1",
    "join": "SELECT e.event, c.birth_date FROM consent_events e JOIN customers c"
            " ON c.id = e.customer_id LIMIT 3",
    "subquery": "SELECT id, email FROM customers WHERE id IN"
                " (SELECT id FROM customers WHERE birth_date < '1970-01-01') LIMIT 3",
    "view": "SELECT * FROM v_people LIMIT 3",
    "where only": "SELECT id FROM customers WHERE birth_date IS NOT NULL LIMIT 3",
    "cte": "WITH x AS (SELECT id, birth_date FROM customers) SELECT count(*) AS n FROM x"
           " WHERE birth_date > '2000-01-01'",
    "order by": "SELECT id FROM customers ORDER BY birth_date LIMIT 2",
}


@pytest.fixture
def db_with_view(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE VIEW v_people AS SELECT id, email, birth_date FROM customers")
    conn.commit()
    conn.close()
    return db_path


@pytest.fixture
def cms(db_with_view):
    with open_sandbox(db_with_view) as sandbox:
        yield sandbox


@pytest.fixture
def recording(db_with_view):
    with open_sandbox(db_with_view, mode="record") as sandbox:
        yield sandbox


@pytest.mark.parametrize("kind", sorted(REACHES_BIRTH_DATE))
def test_every_route_to_a_forbidden_column_is_refused(cms, kind):
    with cms.processing("newsletter") as p, pytest.raises(PurposeViolation) as refused:
        p.query(REACHES_BIRTH_DATE[kind])
    message = str(refused.value)
    assert "'newsletter'" in message and "customers.birth_date" in message
    assert "5(1)(b)" in message and "5(1)(c)" in message
    assert "customers.birth_date" in refused.value.columns
    assert "customers.email" not in refused.value.columns
    (entry,) = cms.audit.entries(action="refused")
    assert entry.purpose == "newsletter" and "customers.birth_date" in entry.columns
    assert not cms.audit.entries(action="read")


@pytest.mark.parametrize("kind", sorted(REACHES_BIRTH_DATE))
def test_every_route_to_a_forbidden_column_is_recorded_in_record_mode(recording, kind):
    with recording.processing("newsletter") as p:
        p.query(REACHES_BIRTH_DATE[kind])  # runs
    (violation,) = recording.audit.entries(action="violation")
    assert "customers.birth_date" in violation.columns
    assert violation.purpose == "newsletter" and violation.detail["mode"] == "record"
    (read,) = recording.audit.entries(action="read")
    assert "customers.birth_date" in read.columns


def test_the_raw_connection_and_its_cursors_are_guarded_too(cms):
    with cms.processing("newsletter"):
        with pytest.raises(PurposeViolation, match="'newsletter' may not read customers.birth"):
            cms.connection.execute("SELECT birth_date FROM customers")
        cursor = cms.connection.cursor()  # what pandas.read_sql does
        with pytest.raises(sqlite3.DatabaseError, match="customers.iban"):
            cursor.execute("SELECT iban FROM customers")
    with pytest.raises(PurposeViolation, match="needs a declared purpose"):
        cms.connection.execute("SELECT email FROM customers")
    refused = cms.audit.entries(action="refused")
    assert [(e.purpose, e.columns) for e in refused] == [
        ("newsletter", ("customers.birth_date",)), ("newsletter", ("customers.iban",)),
        (None, ("customers.email",))]


def test_raw_reads_outside_any_block_in_record_mode_are_logged(recording):
    recording.connection.execute("SELECT email FROM customers LIMIT 1").fetchall()
    (violation,) = recording.audit.entries(action="violation")
    assert violation.purpose is None and violation.columns == ("customers.email",)


def test_reads_on_the_raw_connection_are_still_logged(cms):
    with cms.processing("newsletter"):
        cms.connection.execute("SELECT email FROM customers").fetchall()
    (entry,) = cms.audit.entries(action="read")
    assert entry.columns == ("customers.email",) and entry.detail["via"] == "connection"


def test_allowed_columns_are_read_and_logged_with_customer_ids(cms):
    with cms.processing("newsletter") as p:
        rows = p.query("SELECT id, email FROM customers WHERE id <= ? ORDER BY id", (3,))
        events = p.query("SELECT customer_id, event FROM consent_events LIMIT 4")
    assert [r["id"] for r in rows] == [1, 2, 3] and "@" in rows[0]["email"]
    first, second = cms.audit.entries(action="read")
    assert first.row_ids == (1, 2, 3) and first.detail == {"rows": 3, "session": p.session}
    assert set(second.row_ids) == {e["customer_id"] for e in events}


def test_when_the_customer_is_not_knowable_the_entry_says_so(cms):
    with cms.processing("order_fulfilment") as p:
        p.query("SELECT o.id, c.email FROM orders o JOIN customers c ON c.id = o.customer_id"
                " LIMIT 2")
    (entry,) = cms.audit.entries(action="read")
    assert entry.row_ids == () and entry.detail == {"rows": 2, "customer_ids": "unknown",
                                             "session": p.session}


def test_outside_any_purpose_personal_data_is_refused_but_products_are_not(cms):
    with pytest.raises(PurposeViolation, match="needs a declared purpose"):
        cms.query("SELECT email FROM customers")
    assert len(cms.query("SELECT sku, name FROM products")) >= 1
    assert cms.query("SELECT count(*) AS n FROM customers")[0]["n"] > 0  # counting is no read
    (entry,) = cms.audit.entries()
    assert entry.action == "refused" and entry.purpose is None


def test_outside_any_purpose_in_record_mode_the_read_is_a_violation(recording):
    recording.query("SELECT email FROM customers LIMIT 1")
    (violation,) = recording.audit.entries(action="violation")
    assert violation.purpose is None and violation.columns == ("customers.email",)


def test_a_statement_cached_under_a_wide_purpose_is_checked_again_under_a_narrow_one(cms):
    sql = "SELECT id, birth_date FROM customers LIMIT 1"
    with cms._internal("dsr_access", "dsr") as p:
        p.query(sql)
        p.query(sql)  # cached by sqlite3, so the authorizer is silent: still logged
    with cms.processing("newsletter") as p, pytest.raises(PurposeViolation):
        p.query(sql)
    (read,) = cms.audit.entries(action="read")
    assert read.detail["statements"] == 2 and read.purpose == "dsr_access"


def test_writes_are_checked_column_by_column(cms):
    with cms.processing("customer_service") as p:
        assert p.execute("UPDATE customers SET phone = ? WHERE id = ?", ("+31 20 000 0000", 5),
                         customer_ids=[5]) == 1
        with pytest.raises(PurposeViolation, match="customers.iban"):
            p.execute("UPDATE customers SET iban = NULL WHERE id = 5")
        with pytest.raises(PurposeViolation):
            p.execute("DELETE FROM customers WHERE id = 5")  # a row goes whole: needs iban too
    (write,) = cms.audit.entries(action="write")
    assert write.row_ids == (5,) and "customers.phone" in write.columns
    assert len(cms.audit.entries(action="refused")) == 2


def test_copying_customers_into_a_new_table_is_refused_or_recorded(cms, recording):
    sql = "CREATE TABLE training_copy AS SELECT id, first_name FROM customers"
    with cms.processing("training") as p, pytest.raises(PurposeViolation, match="Digi"):
        p.execute(sql)
    with recording.processing("training") as p:
        p.execute(sql)
    (violation,) = recording.audit.entries(action="violation")
    assert "schema" in violation.detail["kinds"]


def test_attach_is_always_refused(recording, tmp_path):
    with recording.processing("dsr_access") as p, pytest.raises(PurposeViolation, match="attach"):
        p.execute(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")


def test_unknown_purpose_is_a_clear_error(cms):
    with pytest.raises(UnknownPurpose, match="'newsleter'.*newsletter"):
        cms.processing("newsleter")


def test_nested_purposes_apply_the_inner_one_and_restore_the_outer(cms):
    with cms.processing("newsletter") as outer:
        with cms.processing("analytics") as inner:
            inner.query("SELECT customer_id, total_cents FROM orders LIMIT 1")
            with pytest.raises(PurposeViolation):
                inner.query("SELECT email FROM customers LIMIT 1")
        outer.query("SELECT email FROM customers LIMIT 1")
        with pytest.raises(PurposeViolation):
            outer.query("SELECT total_cents FROM orders LIMIT 1")
    assert [e.purpose for e in cms.audit.entries(action="read")] == ["analytics", "newsletter"]


def test_the_context_must_be_used_in_a_with_block(cms):
    p = cms.processing("newsletter")
    with pytest.raises(ProcessingError, match="with block"):
        p.query("SELECT email FROM customers")


def test_a_loop_of_look_ups_is_one_entry_holding_every_customer(cms):
    with cms.processing("newsletter") as p:
        for i in range(1, 301):
            p.query("SELECT email FROM customers WHERE id = ?", (i,))
        p.query("SELECT id, email FROM customers WHERE id = ?", (1,))
    first, second = cms.audit.entries(action="read")
    assert first.row_ids == () and first.detail == {
        "rows": 300, "statements": 300, "customer_ids": "unknown", "session": p.session}
    assert second.row_ids == (1,)
    assert cms.audit.verify().ok


def test_entries_are_written_before_the_block_ends_when_many_wait(cms, monkeypatch):
    monkeypatch.setattr("sandbox_cms.privacy.access.FLUSH_EVERY", 2)

    def written() -> int:
        with sqlite3.connect(cms.path) as plain:
            return plain.execute("SELECT count(*) FROM audit_log").fetchone()[0]

    with cms._internal("dsr_access", "dsr") as p:
        for column in ("email", "phone", "city"):
            p.query(f"SELECT id, {column} FROM customers LIMIT 1")
        assert written() == 2  # the third waits ...
    assert written() == 3  # ... until the block ends


def test_the_order_of_reads_and_actions_is_kept(cms):
    with cms.processing("newsletter") as p:
        p.query("SELECT id FROM customers WHERE id = 1")
        p.send_mailing([1], subject="Hi")
        p.query("SELECT id FROM customers WHERE id = 1")
    assert [e.action for e in cms.audit.entries()] == ["read", "send_mailing", "read"]


def test_bad_mode_is_refused(db_path):
    with pytest.raises(ProcessingError, match="enforce"):
        open_sandbox(db_path, mode="lenient")


def test_cli_query_runs_inside_a_purpose_and_refuses_in_one_line(db_with_view):
    from click.testing import CliRunner

    from sandbox_cms.cli import main

    runner = CliRunner()
    db = str(db_with_view)
    ok = runner.invoke(main, ["query", "--db", db, "--purpose", "newsletter",
                              "SELECT id, email FROM customers WHERE id = 1"])
    assert ok.exit_code == 0 and ok.output.startswith('{"id": 1, "email": ')
    for args, message in [
        (["--purpose", "newsletter", "SELECT birth_date FROM customers"], "birth_date"),
        (["SELECT email FROM customers"], "needs a declared purpose"),
        (["--purpose", "newsletter", "SELEC email"], "syntax error"),
        (["--purpose", "nope", "SELECT 1"], "unknown purpose"),
    ]:
        result = runner.invoke(main, ["query", "--db", db, *args])
        assert result.exit_code == 1 and message in result.output, args
        assert "Traceback" not in result.output
    recorded = runner.invoke(main, ["query", "--db", db, "--purpose", "newsletter", "--mode",
                                    "record", "SELECT id, birth_date FROM customers LIMIT 1"])
    assert recorded.exit_code == 0
    with open_sandbox(db_with_view) as cms:
        assert [e.actor for e in cms.audit.entries(action="violation")] == ["cli"]


INTERNAL = ("dsr_access", "dsr_erasure", "retention_enforcement", "consent_administration")


@pytest.mark.parametrize("purpose", INTERNAL)
def test_learner_code_may_not_borrow_an_internal_purpose(cms, purpose):
    assert cms.register.purpose(purpose).internal
    message = rf"'{purpose}' is internal to the CMS.*5\(1\)\(b\)"
    with pytest.raises(PurposeViolation, match=message), cms.processing(purpose) as p:
        p.query("SELECT id, email, iban FROM customers LIMIT 1")
    (refused,) = cms.audit.entries(action="refused")
    assert refused.actor == "learner" and refused.purpose == purpose
    assert refused.detail["kinds"] == ["internal_purpose"]
    assert not cms.audit.entries(action="read")  # nothing was read


def test_in_record_mode_an_internal_purpose_runs_and_is_a_violation(recording):
    with recording.processing("dsr_access") as p:
        assert p.query("SELECT id, iban FROM customers WHERE id = 3")[0]["id"] == 3
    (violation,) = recording.audit.entries(action="violation")
    assert violation.actor == "learner" and violation.purpose == "dsr_access"
    assert violation.detail["kinds"] == ["internal_purpose"]


def test_the_cms_own_mechanisms_still_use_their_internal_purposes(cms):
    with cms._internal("dsr_access", "dsr") as p:
        email = p.query("SELECT email FROM customers WHERE id = 4")[0]["email"]
    assert cms.dsr.export(email)["customer"]["id"] == 4
    assert cms.consent.events(4) is not None
    cms.retention.due()
    assert not cms.audit.entries(action="refused")
    assert {"dsr", "consent", "retention"} <= {e.actor for e in cms.audit.entries()}


def test_cli_query_under_an_internal_purpose_is_refused_in_one_line(db_with_view):
    from click.testing import CliRunner

    from sandbox_cms.cli import main

    result = CliRunner().invoke(main, ["query", "--db", str(db_with_view), "--purpose",
                                       "dsr_access", "SELECT email, iban FROM customers"])
    assert result.exit_code == 1 and "'dsr_access' is internal to the CMS" in result.output
    assert isinstance(result.exception, SystemExit) and "{" not in result.output


@pytest.mark.parametrize("value", ["ON", "1", "true"])
def test_writable_schema_is_refused_in_every_mode(cms, recording, value):
    for sandbox in (cms, recording):
        with sandbox.processing("newsletter") as p, pytest.raises(PurposeViolation,
                                                                   match="writable_schema"):
            p.execute(f"PRAGMA writable_schema = {value}")
        with pytest.raises(PurposeViolation, match="accountability"):
            sandbox.connection.execute(f"PRAGMA writable_schema = {value}")
        with sandbox.processing("newsletter") as p:
            assert p.query("PRAGMA writable_schema") == [{"writable_schema": 0}]
            with pytest.raises(sqlite3.OperationalError, match="may not be modified"):
                p.execute("UPDATE sqlite_master SET sql = sql WHERE name = 'audit_log'")
        assert sandbox.audit.verify().ok


def test_a_refused_schema_change_names_whole_tables(cms):
    with pytest.raises(PurposeViolation) as refused:
        cms.connection.execute("DROP TABLE customers")
    assert "customers.*" in str(refused.value) and "customers.," not in str(refused.value)
    assert "customers." not in [c for c in refused.value.columns if c.endswith(".")]


@pytest.mark.parametrize("sql", [
    "ALTER TABLE audit_log RENAME TO gone",
    "ALTER TABLE meta ADD COLUMN x TEXT",
    "DROP TABLE purposes",
    "CREATE INDEX audit_by_actor ON audit_log(actor)",
    "CREATE TRIGGER hide AFTER INSERT ON audit_log BEGIN SELECT 1; END",
])
def test_the_cms_own_tables_keep_their_schema_even_in_record_mode(cms, recording, sql):
    for sandbox in (cms, recording):
        refused = pytest.raises(PurposeViolation, match="only be changed by the CMS")
        with sandbox.processing("training") as p, refused:
            p.execute(sql)
        assert sandbox.audit.verify().ok
    with open_sandbox(cms.path) as again:  # still a sandbox
        assert again.audit.verify().ok


def test_an_index_on_a_customer_table_is_no_violation_and_alter_names_the_table(cms):
    with cms.processing("training") as p:
        p.execute("CREATE INDEX by_city ON customers(city)")
        p.execute("DROP INDEX by_city")
        with pytest.raises(PurposeViolation, match=r"schema \(customers\.\*\)"):
            p.execute("ALTER TABLE customers RENAME COLUMN email TO mail")
    assert not cms.audit.entries(action="violation")


def test_cli_query_prints_a_blob_as_hex(db_with_view):
    from click.testing import CliRunner

    from sandbox_cms.cli import main

    result = CliRunner().invoke(main, ["query", "--db", str(db_with_view),
                                       "SELECT x'00ff' AS b, 1 AS n"])
    assert result.exit_code == 0 and result.output == '{"b": "x\'00ff\'", "n": 1}\n'


def test_a_table_valued_function_is_a_read_not_a_write(cms):
    """json_each makes SQLite report updates of sqlite_master (its own bookkeeping): the
    statement is still a read, logged as one, and allowed where its columns are."""
    with cms.processing("customer_service") as p:
        rows = p.query("SELECT c.id, j.value FROM customers c, json_each('[1,2]') j "
                       "ORDER BY c.id LIMIT 2")
    assert [r["value"] for r in rows] == [1, 2]
    assert cms.audit.entries()[-1].action == "read"


def test_reading_the_audit_log_outside_its_purpose_says_read_not_changed(cms):
    with cms.processing("customer_service") as p, \
            pytest.raises(PurposeViolation, match="may not read audit_log") as refused:
        p.query("SELECT a.seq, j.value FROM audit_log a, json_each(a.row_ids) j")
    assert "can only be changed" not in str(refused.value)
