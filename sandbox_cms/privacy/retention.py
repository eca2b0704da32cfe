"""The retention schedule: what is due for deletion or erasure at a moment, and why.

The rules are data (``datasets/policy/retention.toml``, copied into the sandbox's
``retention_rules`` table when it is built). Each rule names a category (what it covers), the
event its period runs from, the period (days after the event, or years from the end of the
financial year of the event: see :mod:`sandbox_cms.core.periods`), the action and the legal
reason. The account action is ``erase`` (the account row deleted, kept invoices unlinked
but still naming the buyer), not "anonymise": that word is kept for data that pass the
singling-out, linkability and inference tests (WP29 Opinion 05/2014). This module
knows, per category, which rows it covers and how to find the date of the event; it reads
the rules from the sandbox, so a changed rule there changes what is due.

``due(at)`` lists every row whose period has run out at ``at`` (default: the sandbox clock);
``apply()`` carries the list out at the clock's time, in one transaction, and reports it.
Deleting by a schedule is storage limitation in practice (art. 5(1)(e)).

``summary(at)`` gives the same counts and first items as ``due(at)`` without building every
item: the account rule is counted on a stored last activity per customer
(``retention_activity``), which SQLite triggers keep current on every write to customers,
orders, order lines and product warranties (see :func:`ensure_activity`). ``due()`` still
computes from scratch and is the reference the tests hold the summary to.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sandbox_cms.core import scope
from sandbox_cms.core.datafiles import DATASETS, read_toml
from sandbox_cms.core.errors import RetentionError
from sandbox_cms.core.moments import Moment, add_days, to_iso
from sandbox_cms.core.periods import (
    CALENDAR_YEAR_END,
    COUNTED_FROM,
    END_OF_FINANCIAL_YEAR,
    EVENT,
    check_year_end,
    due_moment,
    due_sql,
    latest_due_since,
)
from sandbox_cms.core.schema import DERIVED_TRIGGER_PREFIX
from sandbox_cms.core.scope import transaction
from sandbox_cms.privacy.erasure import (
    Db,
    ErasureReport,
    InvoiceRule,
    ProcessingDb,
    erase_customers,
    overwrite_deleted_content,
)
from sandbox_cms.privacy.host import SandboxHost

RULES_FILE = DATASETS / "policy" / "retention.toml"
PURPOSE = "retention_enforcement"
ACTIONS = ("delete", "erase")


@dataclass(frozen=True)
class Category:
    """What a category of the schedule covers: a table, the events it may run from, actions."""

    table: str
    events: tuple[str, ...]
    actions: tuple[str, ...]


CATEGORIES: dict[str, Category] = {
    "invoice": Category("invoices", ("invoice_date",), ("delete",)),
    "customer_account": Category(
        "customers", ("last_order_or_warranty_end", "account_closure"), ("erase",)),
    "newsletter_history": Category("mailing_recipients", ("consent_withdrawal",), ("delete",)),
    "antipiracy_sharing": Category("disclosures", ("disclosure_date",), ("delete",)),
    "consent_proof": Category("consent_events", ("consent_withdrawal",), ("delete",)),
}

# The withdrawals that are the latest event of their customer and purpose up to :at (in the
# order at, then id), as a derived table: each withdrawal looks for a later event through the
# (customer_id, purpose) index instead of ranking the whole ledger.
_LATEST_EVENT = """
    SELECT w.customer_id, w.purpose, w.event, w.at FROM consent_events AS w
    WHERE w.event = 'withdrawn' AND w.at <= :at {purpose_filter}
      AND NOT EXISTS (
          SELECT 1 FROM consent_events AS x
          WHERE x.customer_id IS w.customer_id AND x.purpose = w.purpose AND x.at <= :at
            AND (x.at > w.at OR (x.at = w.at AND x.id > w.id)))"""

# (category, runs_from) -> SQL giving row_id, customer_id, since for rows whose event lies
# on or before :cutoff (= at minus the period).
_DUE_SQL: dict[tuple[str, str], str] = {
    ("invoice", "invoice_date"): """
        SELECT id AS row_id, customer_id, issued_at AS since FROM invoices
        WHERE issued_at <= :cutoff""",
    ("customer_account", "account_closure"): """
        SELECT id AS row_id, id AS customer_id, closed_at AS since FROM customers
        WHERE closed_at IS NOT NULL AND closed_at <= :cutoff""",
    ("customer_account", "last_order_or_warranty_end"): """
        SELECT row_id, customer_id, since FROM (
            SELECT c.id AS row_id, c.id AS customer_id,
                   MAX(c.created_at, COALESCE(o.last_order, ''), COALESCE(w.warranty_end, ''))
                       AS since
            FROM customers AS c
            LEFT JOIN (SELECT customer_id, MAX(ordered_at) AS last_order FROM orders
                       WHERE customer_id IS NOT NULL GROUP BY customer_id) AS o
                   ON o.customer_id = c.id
            LEFT JOIN (SELECT r.customer_id,
                              MAX(strftime('%Y-%m-%dT%H:%M:%S', r.ordered_at,
                                           '+' || p.warranty_months || ' months'))
                                  AS warranty_end
                       FROM orders AS r
                       JOIN order_items AS i ON i.order_id = r.id
                       JOIN products AS p ON p.id = i.product_id
                       WHERE r.customer_id IS NOT NULL AND r.status != 'cancelled'
                         AND p.warranty_months > 0
                       GROUP BY r.customer_id) AS w
                   ON w.customer_id = c.id
        ) WHERE since <= :cutoff""",
    ("newsletter_history", "consent_withdrawal"): f"""
        SELECT r.mailing_id AS row_id, r.customer_id, l.at AS since
        FROM mailing_recipients AS r
        JOIN mailings AS m ON m.id = r.mailing_id
        JOIN ({_LATEST_EVENT.format(purpose_filter="AND w.purpose = 'newsletter'")}) AS l
          ON l.customer_id = r.customer_id
        WHERE m.purpose = 'newsletter' AND l.event = 'withdrawn' AND l.at <= :cutoff""",
    ("antipiracy_sharing", "disclosure_date"): """
        SELECT id AS row_id, customer_id, at AS since FROM disclosures
        WHERE purpose = 'antipiracy_sharing' AND at <= :cutoff""",
    ("consent_proof", "consent_withdrawal"): f"""
        SELECT e.id AS row_id, e.customer_id, l.at AS since
        FROM consent_events AS e
        JOIN ({_LATEST_EVENT.format(purpose_filter="")}) AS l
          ON l.customer_id = e.customer_id AND l.purpose = e.purpose
        WHERE l.event = 'withdrawn' AND l.at <= :cutoff AND e.at <= l.at""",
}


@dataclass(frozen=True)
class RetentionRule:
    """One rule of the schedule."""

    name: str
    category: str
    period_days: int | None  # None when the period is in years
    runs_from: str
    action: str
    legal_reason: str
    period_years: int | None = None
    counted_from: str = EVENT  # or END_OF_FINANCIAL_YEAR (of the runs_from date)
    financial_year_end: str = CALENDAR_YEAR_END  # MM-DD; the calendar year by default

    def period(self) -> dict[str, Any]:
        """The period as keyword arguments of the :mod:`sandbox_cms.core.periods` functions."""
        return {"days": self.period_days, "years": self.period_years,
                "counted_from": self.counted_from, "year_end": self.financial_year_end}

    def period_text(self) -> str:
        """The period in words, e.g. '7 years from the end of the financial year of the
        invoice date' or '30 days after the account closure'."""
        event = self.runs_from.replace("_", " ")
        if self.counted_from == END_OF_FINANCIAL_YEAR:
            year = ("" if self.financial_year_end == CALENDAR_YEAR_END
                    else f", ending {self.financial_year_end}")
            return (f"{self.period_years} years from the end of the financial year"
                    f"{year} of the {event}")
        if self.period_years is not None:
            return f"{self.period_years} years after the {event}"
        return f"{self.period_days} days after the {event}"


RULE_COLUMNS = ("name", "category", "period_days", "runs_from", "action", "legal_reason",
                "period_years", "counted_from", "financial_year_end")


@dataclass(frozen=True)
class DueItem:
    """One row whose retention period has run out, and why."""

    rule: str
    table: str
    row_id: int
    customer_id: int | None
    runs_from: str  # the event the period runs from
    since: str  # when that event happened
    due: str  # since + period
    action: str
    reason: str


@dataclass(frozen=True)
class RetentionSummary:
    """What is due at a moment, in short: items per rule and the first items by due date."""

    at: str
    counts: dict[str, int]  # rule name -> items due (every rule of the schedule, 0 included)
    total: int
    first: list[DueItem]  # the first items of ``due(at)``, oldest due date first


@dataclass
class RetentionReport:
    """What ``apply`` did: the items carried out and the erasure report for anonymised accounts."""

    at: str
    done: list[DueItem] = field(default_factory=list)
    erasure: ErasureReport | None = None

    def counts(self) -> dict[str, int]:
        """Rows handled per rule."""
        result: dict[str, int] = {}
        for item in self.done:
            result[item.rule] = result.get(item.rule, 0) + 1
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "done": [asdict(item) for item in self.done],
            "erasure": self.erasure.to_dict() if self.erasure else None,
        }


def validate_rule(raw: dict[str, Any], where: str) -> RetentionRule:
    """Check one rule (a dict as in the TOML file or the table); errors start with ``where``."""
    values = {}
    for key in ("name", "category", "runs_from", "action", "legal_reason"):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise RetentionError(f"{where}: key '{key}' must be a non-empty string")
        values[key] = " ".join(value.split()) if key == "legal_reason" else value.strip()
    period, years = raw.get("period_days"), raw.get("period_years")
    if (period is None) == (years is None):
        raise RetentionError(f"{where}: give either 'period_days' or 'period_years'")
    for key, value in (("period_days", period), ("period_years", years)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            unit = "days" if key == "period_days" else "years"
            raise RetentionError(f"{where}: key '{key}' must be a whole number of {unit} >= 0")
    counted_from = raw.get("counted_from") or EVENT
    if counted_from not in COUNTED_FROM:
        raise RetentionError(
            f"{where}: key 'counted_from' is {counted_from!r}, not one of "
            f"{', '.join(COUNTED_FROM)}")
    if counted_from == END_OF_FINANCIAL_YEAR and years is None:
        raise RetentionError(
            f"{where}: a period counted from the end of the financial year needs "
            "'period_years'")
    year_end = raw.get("financial_year_end") or CALENDAR_YEAR_END
    problem = check_year_end(year_end)
    if problem:
        raise RetentionError(f"{where}: key 'financial_year_end' {problem}")
    category = CATEGORIES.get(values["category"])
    if category is None:
        raise RetentionError(
            f"{where}: key 'category' is {values['category']!r}, not one of "
            f"{', '.join(CATEGORIES)}")
    if values["runs_from"] not in category.events:
        raise RetentionError(
            f"{where}: key 'runs_from' is {values['runs_from']!r}; category "
            f"{values['category']!r} runs from {', '.join(category.events)}")
    if values["action"] not in category.actions:
        raise RetentionError(
            f"{where}: key 'action' is {values['action']!r}; category {values['category']!r} "
            f"allows {', '.join(category.actions)}")
    return RetentionRule(period_days=period, period_years=years, counted_from=counted_from,
                         financial_year_end=year_end, **values)


def load_rules(path: str | Path = RULES_FILE) -> list[RetentionRule]:
    """Read and validate a retention schedule file."""
    path = Path(path)
    data = read_toml(path, RetentionError)
    entries = data.get("rules")
    if not isinstance(entries, list) or not entries:
        raise RetentionError(f"{path}: key 'rules' must be a non-empty list of [[rules]]")
    # The shop's financial year (a top-level key; the calendar year when absent).
    year_end = data.get("financial_year_end", CALENDAR_YEAR_END)
    problem = check_year_end(year_end)
    if problem:
        raise RetentionError(f"{path}: key 'financial_year_end' {problem}")
    rules, names = [], set()
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise RetentionError(f"{path}: rules #{number} must be a table")
        rule = validate_rule({"financial_year_end": year_end, **entry},
                             f"{path}: rules #{number} ({entry.get('name', '?')})")
        if rule.name in names:
            raise RetentionError(f"{path}: rules #{number}: the name {rule.name!r} is used twice")
        names.add(rule.name)
        rules.append(rule)
    return rules


def _summary_sql(rules: list[RetentionRule], moment: str,
                 limit: int) -> tuple[str, dict[str, Any]]:
    """One statement giving, per rule, how many items are due (rows with ``position`` NULL and
    ``rule_count``) and the first ``limit`` items (``position`` 1, 2, ...), with the
    de-duplication and order of ``_due``: a row due under several rules counts once, under
    the rule that made it due first (on the same day, the earlier rule)."""
    parts, params = [], {"at": moment, "limit": limit}
    for number, rule in enumerate(rules):
        source = _DUE_SQL[(rule.category, rule.runs_from)].replace(":cutoff", f":cutoff_{number}")
        parts.append(
            f"SELECT * FROM (SELECT {number} AS rule_no, '{CATEGORIES[rule.category].table}'"
            f" AS tbl, row_id, customer_id, since, {due_sql('since', **rule.period())} AS due"
            f" FROM ({source})) WHERE due <= :at")
        params[f"cutoff_{number}"] = latest_due_since(moment, **rule.period())
    # With one min() in a grouped query, SQLite takes the bare columns from the minimal row.
    sql = f"""
        WITH kept AS MATERIALIZED (
            SELECT rule_no, tbl, row_id, customer_id, since, due,
                   MIN(due || printf('%06d', rule_no)) AS first_due
            FROM ({" UNION ALL ".join(parts)})
            GROUP BY tbl, row_id, customer_id)
        SELECT rule_no, NULL AS tbl, NULL AS row_id, NULL AS customer_id, NULL AS since,
               NULL AS due, count(*) AS rule_count, NULL AS position
        FROM kept GROUP BY rule_no
        UNION ALL
        SELECT rule_no, tbl, row_id, customer_id, since, due, NULL,
               ROW_NUMBER() OVER (ORDER BY due, tbl, row_id, customer_id)
        FROM (SELECT * FROM kept ORDER BY due, tbl, row_id, customer_id LIMIT :limit)"""
    return sql, params


# -- the stored last activity of each customer (for a fast summary) --------------------------

ACTIVITY_SOURCE = ("customer_account", "last_order_or_warranty_end")
ACTIVITY_TABLE = "retention_activity"
ACTIVITY_TRIGGER_PREFIX = DERIVED_TRIGGER_PREFIX + "activity_"  # the gate lets these through
_WARRANTY_END = """(SELECT MAX(strftime('%Y-%m-%dT%H:%M:%S', r.ordered_at,
                                     '+' || p.warranty_months || ' months'))
       FROM orders AS r JOIN order_items AS i ON i.order_id = r.id
       JOIN products AS p ON p.id = i.product_id
       WHERE r.customer_id = c.id AND r.status != 'cancelled' AND p.warranty_months > 0)"""
# The same "since" as _DUE_SQL[ACTIVITY_SOURCE], for the customers chosen by {where}.
_ACTIVITY_ROWS = f"""
    SELECT c.id, MAX(c.created_at,
                     COALESCE((SELECT MAX(ordered_at) FROM orders WHERE customer_id = c.id), ''),
                     COALESCE({_WARRANTY_END}, ''))
    FROM customers AS c WHERE {{where}}"""


def _recompute(customer: str) -> str:
    """Trigger statements that recompute the stored activity of the customer ``customer``
    (an SQL expression)."""
    return (f"DELETE FROM {ACTIVITY_TABLE} WHERE customer_id = ({customer}); "
            f"INSERT INTO {ACTIVITY_TABLE} (customer_id, since) "
            + _ACTIVITY_ROWS.format(where=f"c.id = ({customer})") + ";")


_OF_ORDER = "SELECT customer_id FROM orders WHERE id = {}"
_BUYERS_OF = ("c.id IN (SELECT r.customer_id FROM orders AS r JOIN order_items AS i "
              "ON i.order_id = r.id WHERE i.product_id IN ({}))")
ACTIVITY_TRIGGERS: dict[str, str] = {
    "customer_in": f"AFTER INSERT ON customers BEGIN {_recompute('NEW.id')} END",
    "customer_up": (f"AFTER UPDATE OF id, created_at ON customers BEGIN {_recompute('OLD.id')} "
                    f"{_recompute('NEW.id')} END"),
    "customer_out": (f"AFTER DELETE ON customers BEGIN DELETE FROM {ACTIVITY_TABLE} "
                     "WHERE customer_id = OLD.id; END"),
    "order_in": f"AFTER INSERT ON orders BEGIN {_recompute('NEW.customer_id')} END",
    "order_up": (f"AFTER UPDATE OF id, customer_id, ordered_at, status ON orders BEGIN "
                 f"{_recompute('OLD.customer_id')} {_recompute('NEW.customer_id')} END"),
    "order_out": f"AFTER DELETE ON orders BEGIN {_recompute('OLD.customer_id')} END",
    "item_in": (f"AFTER INSERT ON order_items BEGIN "
                f"{_recompute(_OF_ORDER.format('NEW.order_id'))} END"),
    "item_up": (f"AFTER UPDATE OF order_id, product_id ON order_items BEGIN "
                f"{_recompute(_OF_ORDER.format('OLD.order_id'))} "
                f"{_recompute(_OF_ORDER.format('NEW.order_id'))} END"),
    "item_out": (f"AFTER DELETE ON order_items BEGIN "
                 f"{_recompute(_OF_ORDER.format('OLD.order_id'))} END"),
    "product_up": (
        f"AFTER UPDATE OF id, warranty_months ON products BEGIN "
        f"INSERT OR REPLACE INTO {ACTIVITY_TABLE} (customer_id, since) "
        + _ACTIVITY_ROWS.format(where=_BUYERS_OF.format("OLD.id, NEW.id")) + "; END"),
    "product_out": (
        f"AFTER DELETE ON products BEGIN INSERT OR REPLACE INTO {ACTIVITY_TABLE} "
        "(customer_id, since) " + _ACTIVITY_ROWS.format(where=_BUYERS_OF.format("OLD.id"))
        + "; END"),
}


# A token that changes with every write to a table the schedule reads (a trigger per table and
# kind of write sets a new random one), so a summary computed under one token still holds as
# long as the token is the same: the dashboard's summary is computed once per change, not per
# view. Random, not a counter: a restored backup brings back the token of exactly its data.
CHANGES_TABLE = "retention_changes"
WATCHED_TABLES = ("customers", "orders", "order_items", "products", "invoices",
                  "consent_events", "mailing_recipients", "mailings", "disclosures",
                  "retention_rules")
_NEW_TOKEN = f"UPDATE {CHANGES_TABLE} SET token = lower(hex(randomblob(8)));"
ACTIVITY_TRIGGERS.update({
    f"changed_{table}_{kind.lower()[:3]}": f"AFTER {kind} ON {table} BEGIN {_NEW_TOKEN} END"
    for table in WATCHED_TABLES for kind in ("INSERT", "UPDATE", "DELETE")
})


def changes_token(conn: Any) -> str | None:
    """The current token of :data:`CHANGES_TABLE` (None before :func:`ensure_activity`)."""
    with scope.system(conn, write=False):
        try:
            row = conn.execute(f"SELECT token FROM {CHANGES_TABLE}").fetchone()
            version = conn.execute("PRAGMA schema_version").fetchone()[0]
        except sqlite3.Error:  # no such table: not built yet
            return None
    return None if row is None else f"{row[0]}/{version}"


# Indexes for the other rules' reads in the summary (an index copies no more than its table).
SUMMARY_INDEXES: dict[str, str] = {
    "retention_customers_closed": "ON customers(closed_at) WHERE closed_at IS NOT NULL",
    "retention_invoices_issued": "ON invoices(issued_at)",
}


def ensure_activity(conn: Any) -> None:
    """Create (or repair) the stored last activity per customer: the table, its index and
    the triggers that keep it current whoever writes (the CMS, a learner's code, another
    connection); and the summary's indexes. Built once from the orders; afterwards every
    insert, update or delete of a customer, order, order line or product's warranty updates
    the customers concerned."""
    triggers = sorted(ACTIVITY_TRIGGER_PREFIX + name for name in ACTIVITY_TRIGGERS)
    with scope.system(conn, write=False):
        present = {(kind, name) for kind, name in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'trigger', 'index')")}
    activity = {("table", ACTIVITY_TABLE), ("table", CHANGES_TABLE)} | {
        ("trigger", name) for name in triggers}
    indexes = {("index", name) for name in SUMMARY_INDEXES}
    if activity | indexes <= present:
        return
    with scope.system(conn):
        for name, ddl in SUMMARY_INDEXES.items():
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} {ddl}")
        if activity <= present:
            return
        for name in triggers:
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.execute(f"DROP TABLE IF EXISTS {ACTIVITY_TABLE}")
        conn.execute(f"DROP TABLE IF EXISTS {CHANGES_TABLE}")
        conn.execute(f"CREATE TABLE {CHANGES_TABLE} (token TEXT NOT NULL)")
        conn.execute(f"INSERT INTO {CHANGES_TABLE} (token) VALUES (lower(hex(randomblob(8))))")
        conn.execute(f"CREATE TABLE {ACTIVITY_TABLE} (customer_id INTEGER PRIMARY KEY, "
                     "since TEXT NOT NULL)")
        conn.execute(f"INSERT INTO {ACTIVITY_TABLE} (customer_id, since) "
                     + _ACTIVITY_ROWS.format(where="1"))
        conn.execute(f"CREATE INDEX {ACTIVITY_TABLE}_since ON {ACTIVITY_TABLE}"
                     "(since, customer_id)")
        for name, body in ACTIVITY_TRIGGERS.items():
            conn.execute(f"CREATE TRIGGER {ACTIVITY_TRIGGER_PREFIX}{name} {body}")


def _fast_summary(db: Db, rules: list[RetentionRule], big: int, moment: str,
                  limit: int) -> RetentionSummary:
    """The summary with the account rule ``rules[big]`` counted on the stored activity's
    index; every other rule's due rows are read (they are few), and rows due under several
    rules count once, under the earliest due (on the same day, the earlier rule), as in
    ``due()``."""
    # Every other rule: its due rows, as _due reads them.
    best: dict[tuple[str, int, int | None], tuple[str, int, str]] = {}  # key -> due, rule, since
    for number, rule in enumerate(rules):
        if number == big:
            continue
        table = CATEGORIES[rule.category].table
        sql = (f"SELECT * FROM (SELECT row_id, customer_id, since,"
               f" {due_sql('since', **rule.period())} AS due"
               f" FROM ({_DUE_SQL[(rule.category, rule.runs_from)]})) WHERE due <= :at")
        for row in db.rows(sql, {"cutoff": latest_due_since(moment, **rule.period()),
                                 "at": moment}):
            key = (table, row["row_id"], row["customer_id"])
            if key not in best or (row["due"], number) < best[key][:2]:
                best[key] = (row["due"], number, row["since"])

    # The account rule, on the stored activity (one row per customer; key (id, id)).
    rule = rules[big]
    table = CATEGORIES[rule.category].table
    period = rule.period()
    due = due_sql("since", **period)
    cutoff = latest_due_since(moment, **period)
    sure = cutoff  # every since up to `sure` is due at `moment`: counted on the index alone
    while due_moment(sure, **period) > moment:
        sure = add_days(sure, -1)
    sure = add_days(sure, -2)  # a margin for stored values in another format
    counted = db.rows(f"SELECT count(*) AS n FROM {ACTIVITY_TABLE} WHERE since <= :sure",
                      {"sure": sure})[0]["n"]
    counted += db.rows(
        f"SELECT count(*) AS n FROM {ACTIVITY_TABLE} WHERE since > :sure AND since <= :cutoff"
        f" AND {due} <= :at", {"sure": sure, "cutoff": cutoff, "at": moment})[0]["n"]
    # Rows of other rules on the same table: which of them the account rule has due too.
    shared = sorted({k[1] for k in best if k[0] == table and k[1] == k[2]})
    big_due: dict[int, tuple[str, str]] = {}
    for start in range(0, len(shared), 400):
        chunk = shared[start:start + 400]
        for row in db.rows(
                f"SELECT customer_id, since, {due} AS due FROM {ACTIVITY_TABLE} WHERE"
                f" customer_id IN ({', '.join('?' * len(chunk))}) AND since <= ?", [
                    *chunk, cutoff]):
            if row["due"] is not None and row["due"] <= moment:
                big_due[row["customer_id"]] = (row["due"], row["since"])
    counts = {r.name: 0 for r in rules}
    counts[rule.name] = counted
    for key, (when, number, _since) in best.items():
        theirs = big_due.get(key[1]) if key[0] == table and key[1] == key[2] else None
        if theirs is not None and (theirs[0], big) < (when, number):
            continue  # the account rule wins this row; it is in `counted` already
        counts[rules[number].name] += 1
        if theirs is not None:
            counts[rule.name] -= 1  # counted under the other rule

    # The first `limit` items: each is among the first `limit` of the rule it falls under.
    first: list[DueItem] = []
    if limit:
        head = db.rows(f"SELECT since, {due} AS due FROM {ACTIVITY_TABLE}"
                       f" WHERE since <= :cutoff ORDER BY since, customer_id LIMIT 1 OFFSET :n",
                       {"cutoff": cutoff, "n": limit - 1})
        bound = cutoff if not head or head[0]["due"] is None else min(
            cutoff, latest_due_since(min(head[0]["due"], moment), **period))
        candidates: dict[tuple[str, int, int | None], tuple[str, int, str]] = {}
        for row in db.rows(
                f"SELECT customer_id, since, {due} AS due FROM {ACTIVITY_TABLE}"
                f" WHERE since <= :bound AND {due} <= :at ORDER BY due, customer_id"
                f" LIMIT :limit", {"bound": bound, "at": moment, "limit": limit}):
            candidates[(table, row["customer_id"], row["customer_id"])] = (
                row["due"], big, row["since"])
        for key, value in best.items():
            mine = candidates.get(key)
            if mine is None or value[:2] < mine[:2]:
                candidates[key] = value
        order = sorted(candidates.items(), key=lambda kv: (kv[1][0], kv[0][0], kv[0][1],
                                                           kv[0][2] if kv[0][2] is not None
                                                           else -1))
        for (tbl, row_id, customer_id), (when, number, since) in order[:limit]:
            r = rules[number]
            first.append(DueItem(r.name, tbl, row_id, customer_id, r.runs_from, since, when,
                                 r.action, r.legal_reason))
    return RetentionSummary(moment, counts, sum(counts.values()), first)


def _copy(summary: RetentionSummary) -> RetentionSummary:
    return replace(summary, counts=dict(summary.counts), first=list(summary.first))


class RetentionSchedule:
    """``cms.retention``: the schedule of a sandbox, what is due, and carrying it out."""

    def __init__(self, sandbox: SandboxHost) -> None:
        self._cms = sandbox
        self._last_summary: tuple[tuple[Any, ...], RetentionSummary] | None = None

    def rules(self) -> list[RetentionRule]:
        """The rules installed in the sandbox, validated."""
        rows = self._cms.connection.execute(
            f"SELECT {', '.join(RULE_COLUMNS)} FROM retention_rules ORDER BY rowid").fetchall()
        return [validate_rule(dict(zip(RULE_COLUMNS, row, strict=True)),
                              f"retention_rules '{row[0]}'")
                for row in rows]

    def invoice_rule(self) -> InvoiceRule:
        """How long invoices are kept (for erasure); the default if the schedule has no rule."""
        for rule in self.rules():
            if rule.category == "invoice":
                return InvoiceRule(rule.period_days, rule.legal_reason, rule.period_years,
                                   rule.counted_from, rule.financial_year_end)
        return InvoiceRule()

    def due(self, at: Moment | None = None) -> list[DueItem]:
        """Every row due at ``at`` (default: now), oldest due date first."""
        moment = to_iso(at) if at is not None else to_iso(self._cms.clock.now())
        with self._cms._internal(PURPOSE, "retention") as p:
            return self._due(ProcessingDb(p), moment)

    def summary(self, at: Moment | None = None, limit: int = 10) -> RetentionSummary:
        """The counts per rule and the first ``limit`` items of ``due(at)``, computed by SQL
        aggregates in one statement, without building an item per due row."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise RetentionError(f"limit must be a whole number >= 0, not {limit!r}")
        moment = to_iso(at) if at is not None else to_iso(self._cms.clock.now())
        conn = self._cms.connection
        token = changes_token(conn)  # before anything is read, the rules included
        rules = self.rules()
        if token is None and any((r.category, r.runs_from) == ACTIVITY_SOURCE for r in rules):
            ensure_activity(conn)  # the first summary of this sandbox: make the token first
            token = changes_token(conn)
            rules = self.rules()
        counts = {rule.name: 0 for rule in rules}
        if not rules:
            return RetentionSummary(moment, counts, 0, [])
        big = next((n for n, r in enumerate(rules)
                    if (r.category, r.runs_from) == ACTIVITY_SOURCE), None)
        if big is not None:
            ensure_activity(conn)  # puts back what was dropped (then the token is new)
            key = (token, moment, limit)
            if token is not None and self._last_summary is not None \
                    and self._last_summary[0] == key:
                return _copy(self._last_summary[1])  # nothing it reads has changed since
            with self._cms._internal(PURPOSE, "retention") as p:
                result = _fast_summary(ProcessingDb(p), rules, big, moment, limit)
            # Kept only if no write came in while it was read (the token is still the same).
            fresh = token is not None and changes_token(conn) == token
            self._last_summary = (key, _copy(result)) if fresh else None
            return result
        with self._cms._internal(PURPOSE, "retention") as p:
            rows = ProcessingDb(p).rows(*_summary_sql(rules, moment, limit))
        first = []
        for row in sorted(rows, key=lambda r: r["position"] or 0):
            rule = rules[row["rule_no"]]
            if row["position"] is None:
                counts[rule.name] = row["rule_count"]
            else:
                first.append(DueItem(rule.name, row["tbl"], row["row_id"], row["customer_id"],
                                     rule.runs_from, row["since"], row["due"], rule.action,
                                     rule.legal_reason))
        return RetentionSummary(moment, counts, sum(counts.values()), first)

    def apply(self, at: Moment | None = None) -> RetentionReport:
        """Carry out what is due now; ``at`` may only name the clock's current time."""
        now = to_iso(self._cms.clock.now())
        moment = to_iso(at) if at is not None else now
        if moment != now:
            raise RetentionError(
                f"retention runs at the sandbox clock's time ({now}), not at {moment}: move the "
                "clock first (cms.clock.set), or use due(at=...) to look ahead")
        invoices = self.invoice_rule()
        with self._cms._internal(PURPOSE, "retention") as p, transaction(p.connection):
            db = ProcessingDb(p)
            overwrite_deleted_content(p.connection)
            items = self._due(db, moment)
            report = RetentionReport(at=moment, done=items)
            for rule in self.rules():
                mine = [i for i in items if i.rule == rule.name]
                if mine:
                    self._carry_out(db, rule, mine, moment, invoices, report)
                    self._cms.audit.append(
                        actor="retention", purpose=PURPOSE, action=rule.action,
                        table=CATEGORIES[rule.category].table,
                        row_ids=sorted({i.customer_id for i in mine if i.customer_id is not None}),
                        detail={"rule": rule.name, "rows": len(mine)})
        return report

    # -- helpers ------------------------------------------------------------------------

    def _due(self, db: Db, moment: str) -> list[DueItem]:
        found: dict[tuple[str, int, int | None], DueItem] = {}
        for rule in self.rules():
            sql = (f"SELECT * FROM (SELECT row_id, customer_id, since,"
                   f" {due_sql('since', **rule.period())} AS due"
                   f" FROM ({_DUE_SQL[(rule.category, rule.runs_from)]})) WHERE due <= :at")
            params = {"cutoff": latest_due_since(moment, **rule.period()), "at": moment}
            table = CATEGORIES[rule.category].table
            for row in db.rows(sql, params):
                item = DueItem(rule.name, table, row["row_id"], row["customer_id"],
                               rule.runs_from, row["since"], row["due"], rule.action,
                               rule.legal_reason)
                key = (table, item.row_id, item.customer_id)
                if key not in found or item.due < found[key].due:
                    found[key] = item
        return sorted(found.values(), key=lambda i: (i.due, i.table, i.row_id))

    @staticmethod
    def _carry_out(db: Db, rule: RetentionRule, items: list[DueItem], moment: str,
                   invoices: InvoiceRule, report: RetentionReport) -> None:
        if rule.category == "customer_account":
            erased = erase_customers(db, [i.row_id for i in items], moment, invoices)
            if report.erasure is None:
                report.erasure = erased
            else:
                report.erasure.removed += erased.removed
                report.erasure.retained += erased.retained
                report.erasure.notify = sorted(set(report.erasure.notify) | set(erased.notify))
            return
        if rule.category == "newsletter_history":
            for item in items:
                db.run("DELETE FROM mailing_recipients WHERE mailing_id = ? AND customer_id = ?",
                       (item.row_id, item.customer_id), [item.customer_id])
            return
        table = CATEGORIES[rule.category].table
        for start in range(0, len(items), 400):
            chunk = items[start:start + 400]
            db.run(f"DELETE FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})",
                   [i.row_id for i in chunk],
                   sorted({i.customer_id for i in chunk if i.customer_id is not None}))
