"""Pictures of a learner's own sandbox for the notebooks: where data travels, consent over
time, what the retention schedule says is due, and what an access copy holds.

Each function reads the sandbox through its mechanisms (the storage register, the consent
ledger under its internal purpose, the retention schedule), so every read of personal data
is audited as usual, and draws with :mod:`sandbox_cms.core.charts`. The result is a
:class:`Chart`: Jupyter shows it inline; ``str(chart)`` is the SVG.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox_cms.core.charts import (
    COLOURS,
    Link,
    Node,
    Series,
    Span,
    bar_chart,
    flow_map,
    timeline,
)
from sandbox_cms.core.moments import Moment, add_days, to_iso
from sandbox_cms.core.periods import END_OF_FINANCIAL_YEAR
from sandbox_cms.privacy.consent import load_methods
from sandbox_cms.privacy.storage import load_adequacy

if TYPE_CHECKING:
    from sandbox_cms.cms import Sandbox

CONSENT_READER = "charts"  # the actor the audit log names for the consent chart's read
MONTHS_SHOWN = 24  # a longer consent history is drawn per quarter
HORIZON_DAYS = 730  # the retention timeline also shows what falls due within two years


@dataclass(frozen=True)
class Chart:
    """An SVG picture; shown inline by Jupyter."""

    svg: str

    def __str__(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return f'<figure class="sandbox-chart">{self.svg}</figure>'

    def _repr_svg_(self) -> str:
        return self.svg


def transfer_map(cms: Sandbox) -> Chart:
    """Each data category (left) and every registered place that keeps or receives it
    (right); places outside the EEA, and the lines into them, in red (Chapter V GDPR)."""
    adequacy = load_adequacy()
    locations = cms.storage.locations()
    categories: list[str] = []
    for loc in locations:
        categories += [c for c in loc.categories if c not in categories]
    outside = [loc for loc in locations if loc.country not in adequacy.eea]
    targets = [Node(loc.name, f"{loc.name} ({loc.country})",
                    f"{loc.kind} in {loc.region or loc.country}, {loc.country}; transfer "
                    f"mechanism: {loc.transfer_mechanism}", loc.country not in adequacy.eea)
               for loc in locations]
    links = [Link(c, loc.name) for loc in locations for c in loc.categories]
    away = "; ".join(f"{loc.name} ({loc.country}, {loc.transfer_mechanism})" for loc in outside)
    desc = (f"{len(categories)} data categories kept in {len(locations)} places. Outside the "
            f"EEA: {away or 'none'}.")
    return Chart(flow_map(
        [Node(c, c.replace("_", " ")) for c in categories], targets, links,
        title="Where each data category is stored and where it travels", desc=desc,
        legend=("inside the EEA", "outside the EEA: a transfer (Chapter V)"),
        empty="nothing to show: this sandbox registers no storage locations"))


def consent_history(cms: Sandbox, purpose: str) -> Chart:
    """Grants and withdrawals of one purpose's consent, month by month (by quarter over more
    than two years); grants given in a way that is no consent (a pre-ticked box, the terms
    and conditions) drawn apart."""
    cms.register.purpose(purpose)  # an unknown purpose is refused with the register's message
    methods = load_methods()
    with cms._internal("consent_administration", CONSENT_READER) as p:
        rows = p.query(
            "SELECT substr(at, 1, 7) AS month, event, method, count(*) AS n"
            " FROM consent_events WHERE purpose = ? GROUP BY month, event, method"
            " ORDER BY month", (purpose,))
    title = f"Consent for {purpose}: grants and withdrawals per month"
    if not rows:
        return Chart(bar_chart([], [], title=title, desc="The ledger holds no events.",
                               empty=f"nothing to show: no consent events for {purpose}"))
    months = _months(rows[0]["month"], rows[-1]["month"])
    quarterly = len(months) > MONTHS_SHOWN  # a long ledger is drawn per quarter
    if quarterly:
        months = sorted({_quarter(m) for m in months})
        title = title.replace("per month", "per quarter")
    valid, invalid, withdrawn = ([0] * len(months) for _ in range(3))
    for row in rows:
        i = months.index(_quarter(row["month"]) if quarterly else row["month"])
        if row["event"] == "withdrawn":
            withdrawn[i] += row["n"]
        elif methods.get(row["method"]) is not None and methods[row["method"]].valid:
            valid[i] += row["n"]
        else:
            invalid[i] += row["n"]
    desc = (f"{sum(valid)} valid grants, {sum(invalid)} grants that are no consent "
            f"(pre-ticked box, terms and conditions: recital 32) and {sum(withdrawn)} "
            f"withdrawals (art. 7(3)), from {months[0]} to {months[-1]}.")
    series = [Series("valid grants", valid, COLOURS["green"]),
              Series("no consent (pre-ticked, terms)", invalid, COLOURS["orange"]),
              Series("withdrawals", withdrawn, COLOURS["red"])]
    return Chart(bar_chart(months, series, title=title, desc=desc, bar=6,
                           label_every=max(1, len(months) // 12)))


def retention_timeline(cms: Sandbox, rule: str | None = None, at: Moment | None = None,
                       limit: int | None = 30) -> Chart:
    """What the retention schedule has due at ``at`` (default: the sandbox clock), and what
    it keeps but will have due within two years: one bar per record, from the event its
    period runs from to its due moment. With ``limit``, the latest due and the first kept
    records are drawn (half each), the counts are in the title. A rule counted from the end
    of the financial year draws that boundary each year."""
    rules = {r.name: r for r in cms.retention.rules()}
    if rule is not None and rule not in rules:
        raise ValueError(f"no retention rule {rule!r}: the schedule has {', '.join(rules)}")
    moment = to_iso(at) if at is not None else to_iso(cms.clock.now())
    items = [i for i in cms.retention.due(at=add_days(moment, HORIZON_DAYS))
             if rule is None or i.rule == rule]
    due = [i for i in items if i.due <= moment]
    kept = [i for i in items if i.due > moment]
    shown_due, shown_kept = due, kept
    if limit is not None:
        shown_kept = kept[:max(limit // 2, limit - len(due))]
        shown_due = due[len(due) - min(len(due), limit - len(shown_kept)):]
    spans = [Span(f"{i.table} {i.row_id}", _day(i.since), _day(i.due), state,
                  f"rule {i.rule}, runs from {i.runs_from.replace('_', ' ')}")
             for state, chosen in (("due", shown_due), ("kept", shown_kept)) for i in chosen]
    what = f"rule {rule}" if rule else "every rule"
    shown = len(spans) < len(items)
    title = (f"Retention on {moment[:10]} ({what}): {len(due)} due, {len(kept)} kept "
             f"and due within two years" + (f"; {len(spans)} drawn" if shown else ""))
    desc = (f"{len(due)} records are due on {moment[:10]} and {len(kept)} more fall due "
            f"within two years (storage limitation, art. 5(1)(e) GDPR). A dashed line marks "
            f"the first day of a financial year.")
    return Chart(timeline(
        spans, now=_day(moment), title=title, desc=desc,
        states={"due": COLOURS["red"], "kept": COLOURS["grey"]},
        boundaries=_year_ends(spans, [rules[r] for r in sorted({s.rule for s in shown_due
                                                                 + shown_kept})]),
        empty=f"nothing to show: nothing is due on {moment[:10]} or within two years after"))


ABOUT_THE_PROCESSING = frozenset({"source", "purposes", "retention_rules",
                                  "storage_locations"})
"""Sections of an access copy that describe the processing (art. 15(1)(a)-(h), 15(2)) rather
than hold the person's own records."""


def access_copy_chart(copy: Mapping[str, Any]) -> Chart:
    """How much each section of an access copy (``cms.dsr.export``) holds: the person's own
    records (art. 15(3)) beside what art. 15(1) and 15(2) add about the processing. Draws
    counts only, never a value from the copy."""
    sections = [k for k, v in copy.items() if isinstance(v, (list, dict))]
    own = [0 if k in ABOUT_THE_PROCESSING else len(copy[k]) for k in sections]
    about = [len(copy[k]) if k in ABOUT_THE_PROCESSING else 0 for k in sections]
    empty_sections = [k for k, n in zip(sections, own, strict=True)
                      if n == 0 and k not in ABOUT_THE_PROCESSING]
    desc = (f"{sum(own)} entries of the person's own records in {len(sections)} sections "
            f"(customer counts fields) and {sum(about)} entries about the processing "
            f"(purposes, retention, places, source). Empty: "
            f"{', '.join(empty_sections) or 'none'}.")
    return Chart(bar_chart(
        [k.replace("_", " ") for k in sections],
        [Series("the person's own records (art. 15(3))", own, COLOURS["blue"]),
         Series("about the processing (art. 15(1)-(2))", about, COLOURS["grey"])],
        title="What the access copy holds, per section", desc=desc, stacked=True,
        note="an empty section is still part of the answer: it says there is nothing",
        empty="nothing to show: the copy has no sections"))


def _quarter(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"


def _day(moment: str) -> dt.date:
    return dt.date.fromisoformat(moment[:10])


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    result = []
    while f"{year:04d}-{month:02d}" <= last:
        result.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return result


def _year_ends(spans: list[Span], rules: list) -> list[tuple[dt.date, str]]:
    """The first day of each financial year in the spans' range, for rules counted from the
    end of the financial year."""
    ends = sorted({r.financial_year_end for r in rules if r.counted_from == END_OF_FINANCIAL_YEAR})
    if not spans or not ends:
        return []
    first = min(s.start for s in spans).year
    last = max(s.end for s in spans).year
    marks = []
    for year_end in ends:
        month, day = (int(x) for x in year_end.split("-"))
        for year in range(first, last + 1):
            start = dt.date(year, month, day) + dt.timedelta(days=1)
            marks.append((start, str(start.year) if (month, day) == (12, 31) else str(start)))
    return marks
