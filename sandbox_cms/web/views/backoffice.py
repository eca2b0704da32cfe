"""The dashboard (counts, retention due, audit status) and a health check."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from markupsafe import Markup

from sandbox_cms.core import scope
from sandbox_cms.core.charts import COLOURS, Series, bar_chart
from sandbox_cms.privacy.retention import RetentionRule
from sandbox_cms.web import inputs
from sandbox_cms.web.sandbox import cms, unlocked, verify_audit

bp = Blueprint("backoffice", __name__)

COUNTED_TABLES = ("customers", "orders", "invoices", "consent_events", "mailings",
                  "disclosures", "dsr_requests", "audit_log")
DUE_SHOWN = 50


@bp.get("/healthz")
def healthz():
    """A static answer without the database: the baseline of the web benchmark."""
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/")
def dashboard():
    at = inputs.date(request.args, "at")
    sandbox = cms()
    conn = sandbox.connection
    with scope.system(conn, write=False):  # counting rows reads no personal data
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in COUNTED_TABLES}
    # The two slow reads (each reads a whole table) let other requests use the database
    # meanwhile. The retention summary counts per rule by SQL aggregates: building every due
    # item (tens of thousands at 100,000 customers) took half as long again. The audit chain
    # is walked in one snapshot, so entries appended by others meanwhile do not break it, and
    # only from the last entry this server found intact (the audit page walks all of it).
    with unlocked():
        summary = sandbox.retention.summary(at=at, limit=DUE_SHOWN)
        verification = verify_audit(sandbox)  # the entries since this server's last check
    by_rule = {rule: n for rule, n in summary.counts.items() if n}
    chart = retention_chart(sandbox.retention.rules(), summary.counts, counts, summary.at)
    return render_template(
        "dashboard.html", counts=counts, due=summary.first, due_total=summary.total,
        due_by_rule=by_rule, at=at, now=sandbox.clock.now(), verification=verification,
        retention_chart=chart)


# What the dashboard's chart compares: rows a rule category covers, the table they are in.
CHARTED = (("customer_account", "customers", "customer accounts"),
           ("invoice", "invoices", "invoices"))


def retention_chart(rules: list[RetentionRule], due: dict[str, int], rows: dict[str, int],
                    at: str) -> Markup:
    """Due vs kept, per kind of record, from the counts the dashboard has already read (the
    summary's items per rule and each table's rows): no extra query over the data."""
    category = {rule.name: rule.category for rule in rules}
    labels, due_n, kept_n = [], [], []
    for name, table, label in CHARTED:
        n = sum(count for rule, count in due.items() if category.get(rule) == name)
        labels.append(label)
        due_n.append(n)
        kept_n.append(max(rows.get(table, 0) - n, 0))
    desc = "; ".join(f"{label}: {d:,} due, {k:,} kept"
                     for label, d, k in zip(labels, due_n, kept_n, strict=True))
    return Markup(bar_chart(
        labels, [Series("due", due_n, COLOURS["red"]), Series("kept", kept_n, COLOURS["grey"])],
        title=f"Due for retention and kept on {at[:10]}", desc=desc + ".", stacked=True,
        bar=110, height=120, empty="nothing to show: no accounts or invoices"))


@bp.post("/retention/apply")
def apply_retention():
    """Carry out what the retention schedule says is due at the sandbox clock's time."""
    report = cms().retention.apply()
    return render_template("retention_applied.html", report=report, counts=report.counts())
