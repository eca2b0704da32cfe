"""The retention schedule: rules as data, what is due when and why, and carrying it out."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox_cms.cli import main
from sandbox_cms.cms import Sandbox, open_sandbox
from sandbox_cms.core.errors import RetentionError
from sandbox_cms.core.periods import due_moment, financial_year_end
from sandbox_cms.privacy.erasure import InvoiceRule
from sandbox_cms.privacy.retention import RULES_FILE, load_rules

INVOICE_YEARS = 7


@contextlib.contextmanager
def _raw(cms: Sandbox) -> Iterator[sqlite3.Connection]:
    """A plain connection beside the CMS (no purpose gate), committed and closed after."""
    conn = sqlite3.connect(cms.path)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _day(value: str, days: int = 0) -> str:
    moment = dt.datetime.fromisoformat(value) + dt.timedelta(days=days)
    return moment.isoformat()


def _keys(items: list) -> set[tuple[str, int]]:
    return {(item.table, item.row_id) for item in items}


# -- the rules as data ------------------------------------------------------------------------


def test_shipped_rules_load_and_are_installed(cms: Sandbox) -> None:
    shipped = load_rules()
    assert {r.category for r in shipped} >= {"invoice", "customer_account", "consent_proof"}
    invoice = next(r for r in shipped if r.category == "invoice")
    assert (invoice.period_years, invoice.period_days) == (INVOICE_YEARS, None)
    assert (invoice.runs_from, invoice.counted_from) == ("invoice_date", "end_of_financial_year")
    assert invoice.financial_year_end == "12-31"  # the calendar year
    for cited in ("52(4)", "2:10(3)", "3:15i", "17(3)(b)"):
        assert cited in invoice.legal_reason, cited
    accounts = [r for r in shipped if r.category == "customer_account"]
    assert accounts and {r.action for r in accounts} == {"erase"}  # not "anonymise" (L14)
    assert cms.retention.rules() == shipped


@pytest.mark.parametrize(("extra", "message"), [
    ("period_days = 30\nperiod_years = 7", "either 'period_days' or 'period_years'"),
    ('period_years = -7\ncounted_from = "end_of_financial_year"', "'period_years' must be"),
    ('period_days = 30\ncounted_from = "end_of_financial_year"', "needs 'period_years'"),
    ('period_years = 7\ncounted_from = "start_of_time"', "key 'counted_from'"),
    ('period_years = 7\nfinancial_year_end = "02-29"', "not a day that occurs every year"),
    ('period_years = 7\nfinancial_year_end = "June"', "'MM-DD'"),
])
def test_a_bad_period_is_refused(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "retention.toml"
    path.write_text('[[rules]]\nname = "x"\ncategory = "invoice"\nruns_from = "invoice_date"\n'
                    f'action = "delete"\nlegal_reason = "because"\n{extra}\n')
    with pytest.raises(RetentionError, match=message):
        load_rules(path)


@pytest.mark.parametrize(("change", "message"), [
    ('category = "invoice"', "key 'category' is 'photos'"),
    ('runs_from = "invoice_date"', "key 'runs_from' is 'last_login'"),
    ("period_days = 30", "key 'period_days' must be a whole number"),
    ('action = "delete"', "key 'action' is 'archive'"),
])
def test_a_bad_rule_is_refused_naming_file_and_key(tmp_path: Path, change: str,
                                                   message: str) -> None:
    good = {
        "category": 'category = "invoice"', "runs_from": 'runs_from = "invoice_date"',
        "period_days": "period_days = 30", "action": 'action = "delete"',
    }
    bad = {
        'category = "invoice"': 'category = "photos"',
        'runs_from = "invoice_date"': 'runs_from = "last_login"',
        "period_days = 30": "period_days = -1",
        'action = "delete"': 'action = "archive"',
    }
    lines = [bad[v] if v == change else v for v in good.values()]
    path = tmp_path / "retention.toml"
    path.write_text('[[rules]]\nname = "x"\nlegal_reason = "because"\n' + "\n".join(lines))
    with pytest.raises(RetentionError, match=message) as info:
        load_rules(path)
    assert str(path) in str(info.value) and "rules #1" in str(info.value)


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RetentionError, match="file is missing"):
        load_rules(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[rules]\n")
    with pytest.raises(RetentionError, match="not valid TOML"):
        load_rules(broken)
    assert RULES_FILE.is_file()


# -- what is due, and why ---------------------------------------------------------------------


def test_an_invoice_is_kept_until_the_end_of_its_year_plus_seven(cms: Sandbox) -> None:
    """L1: an invoice of year Y is kept until 31 Dec of Y+7 and due from 1 Jan of Y+8, not
    2557 days after its date (AWR art. 52(4), counted from the end of the financial year)."""
    with _raw(cms) as raw:
        invoice_id, issued = raw.execute(
            "SELECT id, issued_at FROM invoices ORDER BY issued_at, id LIMIT 1").fetchone()
    year = int(issued[:4])
    last_day, due_day = f"{year + 7}-12-31T23:59:59", f"{year + 8}-01-01T00:00:00"
    days_later = _day(issued + "T00:00:00", 2557)  # what counting days would give
    assert days_later < last_day
    for kept_at in (days_later, _day(days_later, 1), last_day):
        assert ("invoices", invoice_id) not in _keys(cms.retention.due(at=kept_at)), kept_at
        assert cms.retention.summary(at=kept_at).counts["invoices"] == 0, kept_at
    item = next(i for i in cms.retention.due(at=due_day)
                if (i.table, i.row_id) == ("invoices", invoice_id))
    assert (item.rule, item.action, item.runs_from) == ("invoices", "delete", "invoice_date")
    assert item.since == issued and item.due == due_day
    assert "52(4)" in item.reason
    assert cms.retention.summary(at=due_day).counts["invoices"] > 0


@pytest.mark.parametrize(("issued", "kept_until"), [
    ("2018-12-31", "2026-01-01T00:00:00"),
    ("2019-01-01", "2027-01-01T00:00:00"),
    ("2019-12-31T23:00:00", "2027-01-01T00:00:00"),
    ("2020-02-29", "2028-01-01T00:00:00"),
])
def test_invoice_rule_counts_from_the_end_of_the_financial_year(issued: str,
                                                                kept_until: str) -> None:
    assert InvoiceRule().kept_until(issued) == kept_until
    assert not InvoiceRule().expired(issued, _day(kept_until, -1))
    assert InvoiceRule().expired(issued, kept_until)
    assert InvoiceRule(period_days=2557).kept_until("2019-01-01") == "2026-01-01T00:00:00"


def test_another_financial_year_moves_the_boundary() -> None:
    """A shop whose financial year ends on 30 June keeps an invoice of 1 July 2019 until
    30 June 2027, one of 30 June 2019 until 30 June 2026."""
    assert financial_year_end(dt.date(2019, 7, 1), "06-30") == dt.date(2020, 6, 30)
    assert due_moment("2019-07-01", years=7, counted_from="end_of_financial_year",
                      year_end="06-30") == "2027-07-01T00:00:00"
    assert due_moment("2019-06-30", years=7, counted_from="end_of_financial_year",
                      year_end="06-30") == "2026-07-01T00:00:00"


def test_an_account_is_kept_while_the_warranty_runs(cms: Sandbox) -> None:
    # One order, delivered, holding a trampoline (24 months' warranty), account still open.
    with _raw(cms) as raw:
        cid, ordered = raw.execute("""
            SELECT o.customer_id, o.ordered_at FROM orders AS o
            JOIN customers AS c ON c.id = o.customer_id
            WHERE c.closed_at IS NULL AND o.status = 'delivered'
              AND substr(o.ordered_at, 6, 5) NOT IN ('02-29')
              AND o.customer_id IN (SELECT customer_id FROM orders GROUP BY customer_id
                                    HAVING COUNT(*) = 1)
              AND o.id IN (SELECT order_id FROM order_items WHERE product_id IN
                           (SELECT id FROM products WHERE warranty_months = 24))
            ORDER BY o.ordered_at LIMIT 1""").fetchone()
    bought = dt.datetime.fromisoformat(ordered)
    warranty_end = bought.replace(year=bought.year + 2).isoformat()
    due_day = _day(warranty_end, 365)
    items = [i for i in cms.retention.due(at=due_day) if (i.table, i.row_id) == ("customers", cid)]
    assert len(items) == 1
    assert items[0].rule == "customer_accounts" and items[0].since == warranty_end
    assert items[0].due == due_day and items[0].action == "erase"
    # A year after the order alone is not enough: the warranty still runs then.
    assert ("customers", cid) not in _keys(cms.retention.due(at=_day(ordered, 366)))


def test_no_account_is_due_before_a_year_after_its_last_order(cms: Sandbox) -> None:
    at = "2025-03-01T09:00:00"
    with _raw(cms) as raw:
        last = dict(raw.execute(
            "SELECT customer_id, MAX(ordered_at) FROM orders GROUP BY customer_id").fetchall())
        closed = {r[0] for r in raw.execute(
            "SELECT id FROM customers WHERE closed_at IS NOT NULL")}
    accounts = [i for i in cms.retention.due(at=at) if i.rule == "customer_accounts"]
    assert accounts, "the webshop keeps many old accounts (source post 4)"
    for item in accounts:
        assert item.since >= last[item.customer_id]
        assert item.due <= at
    closures = [i for i in cms.retention.due(at=at) if i.rule == "closed_accounts"]
    assert closures and all(i.customer_id in closed for i in closures)


def test_newsletter_history_goes_a_month_after_withdrawal(cms: Sandbox) -> None:
    cid = min(cms.consent.allowed_customers("newsletter"))
    with cms.processing("newsletter") as p:
        mailing = p.send_mailing([cid], subject="Spring offers")
    withdrawn = cms.clock.now().isoformat()
    cms.consent.record(cid, "newsletter", "withdrawn", "newsletter-v2", "unsubscribe_link",
                       "email")
    key = ("mailing_recipients", mailing)
    assert key not in _keys(cms.retention.due(at=_day(withdrawn, 29)))
    item = next(i for i in cms.retention.due(at=_day(withdrawn, 30)) if (i.table, i.row_id) == key)
    assert item.rule == "newsletter_history" and item.since == withdrawn
    assert item.customer_id == cid
    cms.clock.advance(days=30)
    cms.retention.apply()
    with _raw(cms) as raw:
        assert raw.execute("SELECT COUNT(*) FROM mailing_recipients WHERE mailing_id = ?",
                           (mailing,)).fetchone()[0] == 0


def test_disclosures_to_the_foundation_go_after_five_years(cms: Sandbox) -> None:
    cid = 1
    with cms.processing("antipiracy_sharing") as p:
        p.share(recipient="anti-piracy foundation", customer_ids=[cid],
                columns=["customers.email"])
    with _raw(cms) as raw:
        disclosure, at = raw.execute(
            "SELECT id, at FROM disclosures WHERE customer_id = ?", (cid,)).fetchone()
    assert ("disclosures", disclosure) not in _keys(cms.retention.due(at=_day(at, 1825)))
    item = next(i for i in cms.retention.due(at=_day(at, 1826))
                if (i.table, i.row_id) == ("disclosures", disclosure))
    assert item.rule == "antipiracy_disclosures" and "3:310" in item.reason


def test_consent_proof_is_kept_five_years_after_withdrawal(cms: Sandbox) -> None:
    with _raw(cms) as raw:
        cid, withdrawn = raw.execute(
            "SELECT customer_id, at FROM consent_events WHERE event = 'withdrawn'"
            " ORDER BY at DESC LIMIT 1").fetchone()
        events = {r[0] for r in raw.execute(
            "SELECT id FROM consent_events WHERE customer_id = ?", (cid,))}
    before = _keys(cms.retention.due(at=_day(withdrawn, 1825)))
    assert not {("consent_events", e) for e in events} & before
    after = [i for i in cms.retention.due(at=_day(withdrawn, 1826))
             if i.table == "consent_events" and i.customer_id == cid]
    assert {i.row_id for i in after} == events
    assert all(i.rule == "consent_proof" and i.since == withdrawn for i in after)


# -- carrying it out --------------------------------------------------------------------------


def test_apply_runs_only_at_the_clock_time(cms: Sandbox) -> None:
    with pytest.raises(RetentionError, match="move the clock first"):
        cms.retention.apply(at="2031-01-01")


def test_apply_erases_accounts_and_keeps_invoices_under_duty(cms: Sandbox) -> None:
    cms.clock.set("2026-01-01")
    due = cms.retention.due()
    accounts = {i.customer_id for i in due if i.table == "customers"}
    with _raw(cms) as raw:
        invoices = {r[0]: r[1] for r in raw.execute(
            f"SELECT id, issued_at FROM invoices WHERE customer_id IN "
            f"({', '.join(map(str, accounts))})")}
    report = cms.retention.apply()
    assert _keys(report.done) == _keys(due)
    assert cms.retention.due() == []
    with _raw(cms) as raw:
        left = {r[0] for r in raw.execute(
            f"SELECT id FROM customers WHERE id IN ({', '.join(map(str, accounts))})")}
        kept = dict(raw.execute(
            f"SELECT id, customer_id FROM invoices WHERE id IN "
            f"({', '.join(map(str, invoices))})").fetchall())
    assert left == set()
    assert set(kept) == set(invoices)  # all younger than seven years in 2026
    assert set(kept.values()) == {None}  # ... and unlinked from the erased accounts
    assert {item.row_id for item in report.erasure.retained} == set(invoices)
    assert report.counts()["customer_accounts"] > 0
    entries = cms.audit.entries(purpose="retention_enforcement", action="erase")
    assert entries and entries[-1].detail["rule"] in {"customer_accounts", "closed_accounts"}
    assert cms.audit.verify().ok


def test_apply_deletes_invoices_once_the_duty_ends(cms: Sandbox) -> None:
    cms.clock.set("2029-01-01")
    cutoff = "2022-01-01"  # invoices up to 2021 are past 31 Dec 2028 (2021 + 7): due
    with _raw(cms) as raw:
        old = raw.execute("SELECT COUNT(*) FROM invoices WHERE issued_at < ?",
                          (cutoff,)).fetchone()[0]
    assert old > 0
    report = cms.retention.apply()
    assert report.counts()["invoices"] == old
    with _raw(cms) as raw:
        assert raw.execute("SELECT COUNT(*) FROM invoices WHERE issued_at < ?",
                           (cutoff,)).fetchone()[0] == 0
        assert raw.execute("SELECT COUNT(*) FROM invoices WHERE issued_at LIKE '2022-01-0%'"
                           ).fetchone()[0] > 0  # the first days of a kept year stay
        assert raw.execute("SELECT COUNT(*) FROM invoices").fetchone()[0] > 0


# -- CLI --------------------------------------------------------------------------------------


def test_cli_due_and_apply(db_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["retention", "due", "--db", str(db_path), "--at",
                                  "2026-01-01", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "row(s) due" in result.output and "customer_accounts" in result.output
    result = runner.invoke(main, ["retention", "apply", "--db", str(db_path), "--at",
                                  "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert "retention applied at 2026-01-01T00:00:00" in result.output
    with open_sandbox(db_path) as cms:
        assert cms.retention.due() == []
        assert cms.clock.now() == dt.datetime(2026, 1, 1)


@pytest.mark.parametrize(("args", "message"), [
    (["retention", "due", "--at", "yesterday"], "not a date"),
    (["retention", "apply", "--at", "2020-01-01"], "cannot move backwards"),
])
def test_cli_bad_dates_are_one_line_errors(db_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, [*args, "--db", str(db_path)])
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output


def test_cli_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["retention", "due", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and "no such sandbox" in result.output


# -- the summary (counts by SQL aggregates) -------------------------------------------------


def _by_rule(items: list) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.rule] = counts.get(item.rule, 0) + 1
    return counts


def _same_as_due(cms: Sandbox, at: str | None = None, limit: int = 7) -> None:
    items = cms.retention.due(at=at)
    summary = cms.retention.summary(at=at, limit=limit)
    assert {rule: n for rule, n in summary.counts.items() if n} == _by_rule(items)
    assert set(summary.counts) == {rule.name for rule in cms.retention.rules()}
    assert summary.total == len(items)
    ordered = sorted(items, key=lambda i: (i.due, i.table, i.row_id, i.customer_id or 0))
    assert summary.first == ordered[:limit]


def test_summary_gives_the_counts_and_first_items_of_due(cms: Sandbox) -> None:
    assert cms.retention.summary().total > 0  # a fresh sandbox has accounts past their year
    _same_as_due(cms)
    _same_as_due(cms, at="2031-06-01", limit=0)
    cms.clock.advance(days=3 * 365)
    _same_as_due(cms)
    cms.retention.apply()
    assert cms.retention.summary().total == 0
    cms.clock.advance(days=6 * 365)  # invoices and consent proofs run out now
    _same_as_due(cms, limit=500)


def test_summary_counts_a_row_due_under_two_rules_once(cms: Sandbox) -> None:
    # An account closed long ago is due both as closed and as inactive: once, as in due().
    inactive = next(i for i in cms.retention.due() if i.rule == "customer_accounts")
    cid = inactive.row_id
    with _raw(cms) as raw:
        raw.execute("UPDATE customers SET closed_at = ? WHERE id = ?",
                    (_day(inactive.since, -400), cid))
    mine = [i for i in cms.retention.due() if (i.table, i.row_id) == ("customers", cid)]
    assert [i.rule for i in mine] == ["closed_accounts"]
    _same_as_due(cms, limit=3)


@pytest.mark.parametrize("limit", [-1, 2.5, True, "10"])
def test_summary_refuses_a_bad_limit(cms: Sandbox, limit: object) -> None:
    with pytest.raises(RetentionError, match="limit"):
        cms.retention.summary(limit=limit)  # type: ignore[arg-type]


# -- the stored last activity behind the summary ----------------------------------------------


def _second(value: str, seconds: int) -> str:
    return (dt.datetime.fromisoformat(value) + dt.timedelta(seconds=seconds)).isoformat()


def test_summary_equals_due_on_the_boundaries(cms: Sandbox) -> None:
    account = next(i for i in cms.retention.due() if i.rule == "customer_accounts")
    for at in (account.due, _second(account.due, -1)):  # due at that second, not one before
        _same_as_due(cms, at=at, limit=5)
    # The financial-year invoice rule: an invoice of 2019 is kept through 31 December 2026.
    for at in ("2026-12-31T23:59:59", "2027-01-01T00:00:00", "2027-01-01T00:00:01"):
        _same_as_due(cms, at=at, limit=5)
    assert cms.retention.summary(at="2026-12-31T23:59:59").counts["invoices"] == 0
    assert cms.retention.summary(at="2027-01-01T00:00:00").counts["invoices"] > 0


def test_the_stored_activity_follows_every_write_whoever_makes_it(cms: Sandbox) -> None:
    due = [i for i in cms.retention.due() if i.rule == "customer_accounts"]
    cms.retention.summary()  # builds the stored activity
    first, second, third = due[0].row_id, due[1].row_id, due[2].row_id
    now = cms.clock.now().replace(microsecond=0).isoformat()
    with _raw(cms) as raw:  # another connection: no CMS code runs
        raw.execute("INSERT INTO orders (customer_id, ordered_at, status, total_cents, "
                    "provenance_id) VALUES (?, ?, 'paid', 100, 1)", (first, now))
        warranty = raw.execute("SELECT id FROM products WHERE warranty_months > 0 "
                               "LIMIT 1").fetchone()[0]
        order = raw.execute("SELECT id FROM orders WHERE customer_id = ? LIMIT 1",
                            (second,)).fetchone()
        if order is None:
            order = (raw.execute("INSERT INTO orders (customer_id, ordered_at, status, "
                                 "total_cents, provenance_id) VALUES (?, ?, 'paid', 1, 1)",
                                 (second, _day(now, -500))).lastrowid,)
        raw.execute("UPDATE orders SET ordered_at = ?, status = 'paid' WHERE customer_id = ?",
                    (_day(now, -300), second))
        raw.execute("INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
                    " VALUES (?, ?, 1, 100)", (order[0], warranty))
        raw.execute("UPDATE products SET warranty_months = warranty_months + 12 WHERE id = ?",
                    (warranty,))
        raw.execute("UPDATE customers SET created_at = ? WHERE id = ?", (now, third))
        raw.execute("INSERT INTO customers (first_name, last_name, email, created_at, "
                    "provenance_id) VALUES ('Oud', 'Klant', 'oud.klant@example.com', ?, 1)",
                    (_day(now, -900),))
    _same_as_due(cms, limit=20)
    keys = {i.row_id for i in cms.retention.due() if i.rule == "customer_accounts"}
    assert {first, second, third}.isdisjoint(keys)
    with _raw(cms) as raw:
        raw.execute("DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders "
                    "WHERE customer_id = ?)", (first,))
        raw.execute("DELETE FROM orders WHERE customer_id = ?", (first,))
        raw.execute("UPDATE orders SET status = 'cancelled' WHERE customer_id = ?", (second,))
    _same_as_due(cms, limit=20)
    # Cancelled, the order carries no warranty: due a year after it, no longer after the
    # warranty's end.
    assert second in {i.row_id for i in cms.retention.due(at=_day(now, 100))}
    _same_as_due(cms, at=_day(now, 100), limit=20)
    cms.clock.advance(days=800)
    _same_as_due(cms, limit=20)
    cms.retention.apply()  # erases through the CMS: the stored rows go with the customers
    _same_as_due(cms, limit=20)
    with _raw(cms) as raw:
        assert raw.execute("SELECT count(*) FROM retention_activity WHERE customer_id NOT IN "
                           "(SELECT id FROM customers)").fetchone() == (0,)


def test_the_gate_neither_checks_nor_logs_the_stored_activity(cms: Sandbox) -> None:
    cms.retention.summary()
    customer = cms.retention.due()[0].customer_id
    before = len(cms.audit.entries())
    with cms.processing("order_fulfilment") as p:  # may not read customers.created_at
        p.execute("INSERT INTO orders (customer_id, ordered_at, status, total_cents, "
                  "provenance_id) VALUES (?, ?, 'paid', 100, 1)",
                  (customer, cms.clock.now().isoformat()), customer_ids=[customer])
    entries = cms.audit.entries()[before:]
    assert entries and all(e.table != "retention_activity" for e in entries)
    assert all("retention_activity" not in " ".join(e.columns) for e in entries)
    _same_as_due(cms)


def test_a_dropped_trigger_is_put_back_and_the_activity_rebuilt(cms: Sandbox) -> None:
    cms.retention.summary()
    customer = cms.retention.due()[0].row_id
    with _raw(cms) as raw:
        raw.execute("DROP TRIGGER cms_derived_activity_order_in")
        raw.execute("INSERT INTO orders (customer_id, ordered_at, status, total_cents, "
                    "provenance_id) VALUES (?, ?, 'paid', 100, 1)",
                    (customer, cms.clock.now().isoformat()))
    _same_as_due(cms)
