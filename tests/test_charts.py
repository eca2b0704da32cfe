"""Charts (issue 12, item 5): the SVG primitives of sandbox_cms.core.charts and the pictures
of a learner's sandbox in sandbox_cms.notebook.charts, checked on what they draw."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import xml.etree.ElementTree as ET

import pytest

from sandbox_cms import fresh_sandbox
from sandbox_cms.core import scope
from sandbox_cms.core.charts import (
    NOTHING,
    Link,
    Node,
    Series,
    Span,
    bar_chart,
    flow_map,
    heat_map,
    nothing_to_show,
    timeline,
)
from sandbox_cms.notebook.charts import (
    Chart,
    access_copy_chart,
    consent_history,
    retention_timeline,
    transfer_map,
)
from sandbox_cms.privacy.consent import load_methods
from sandbox_cms.privacy.storage import load_adequacy

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & "Jan" <b>'


def parsed(svg: str | Chart) -> ET.Element:
    """The chart as XML (fails on anything that is not well-formed), with its a11y parts."""
    root = ET.fromstring(str(svg))
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    assert root.find(f"{NS}title") is not None and root.find(f"{NS}title").text
    assert root.find(f"{NS}desc") is not None and root.find(f"{NS}desc").text
    return root


def marks(root: ET.Element, kind: str, **attrs: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("data-mark") == kind
            and all(e.get(f"data-{k}") == v for k, v in attrs.items())]


def empty(root: ET.Element) -> bool:
    return root.get("data-chart") == "empty" and NOTHING in "".join(root.itertext())


# -- the primitives ----------------------------------------------------------------------------


def test_bar_chart_draws_one_bar_per_nonzero_value_with_its_value() -> None:
    root = parsed(bar_chart(["a", "b", "c"], [Series("due", [3, 0, 5]), Series("kept", [1, 2, 0])],
                            title="t", desc="d"))
    assert len(marks(root, "bar", series="due")) == 2
    assert len(marks(root, "bar", series="kept")) == 2
    titles = sorted(e.find(f"{NS}title").text for e in marks(root, "bar"))
    assert titles == ["a, due: 3", "a, kept: 1", "b, kept: 2", "c, due: 5"]
    heights = {e.find(f"{NS}title").text: float(e.get("height")) for e in marks(root, "bar")}
    assert heights["c, due: 5"] > heights["a, due: 3"] > heights["a, kept: 1"]


def test_stacked_bars_stack() -> None:
    root = parsed(bar_chart(["x"], [Series("due", [2]), Series("kept", [2])], title="t",
                            desc="d", stacked=True))
    due, kept = (marks(root, "bar", series=s)[0] for s in ("due", "kept"))
    assert due.get("x") == kept.get("x")
    assert float(kept.get("y")) + float(kept.get("height")) == pytest.approx(float(due.get("y")))


def test_timeline_draws_each_span_in_its_state_and_the_boundaries() -> None:
    spans = [Span("invoice 1", dt.date(2019, 3, 1), dt.date(2027, 1, 1), "due"),
             Span("invoice 2", dt.date(2020, 3, 1), dt.date(2028, 1, 1), "kept")]
    root = parsed(timeline(spans, now=dt.datetime(2027, 1, 1), title="t", desc="d",
                           states={"due": "red", "kept": "grey"},
                           boundaries=[(dt.date(y, 1, 1), str(y)) for y in range(2018, 2030)]))
    assert len(marks(root, "span", state="due")) == 1
    assert len(marks(root, "span", state="kept")) == 1
    # only the boundaries inside the range are drawn: 1 January 2020 ... 2028
    assert len(marks(root, "boundary")) == 9
    now = marks(root, "now")[0]
    due = marks(root, "span", state="due")[0]
    assert float(due.get("x")) + float(due.get("width")) == pytest.approx(float(now.get("x1")),
                                                                         abs=0.2)


def test_flow_map_links_and_highlights() -> None:
    root = parsed(flow_map([Node("a", "A"), Node("b", "B")],
                           [Node("x", "X"), Node("y", "Y", highlight=True)],
                           [Link("a", "x"), Link("a", "y"), Link("b", "y")],
                           title="t", desc="d"))
    assert len(marks(root, "link")) == 3
    assert len(marks(root, "link", state="highlight")) == 2
    assert len(marks(root, "node", state="highlight")) == 1
    with pytest.raises(ValueError, match="names no node"):
        flow_map([Node("a", "A")], [Node("x", "X")], [Link("a", "z")], title="t", desc="d")


def test_hostile_text_is_escaped_everywhere() -> None:
    charts = [
        bar_chart([HOSTILE], [Series(HOSTILE, [1])], title=HOSTILE, desc=HOSTILE),
        timeline([Span(HOSTILE, dt.date(2020, 1, 1), dt.date(2021, 1, 1), HOSTILE, HOSTILE)],
                 now=dt.date(2020, 6, 1), title=HOSTILE, desc=HOSTILE, states={HOSTILE: "red"},
                 boundaries=[(dt.date(2020, 7, 1), HOSTILE)]),
        flow_map([Node(HOSTILE, HOSTILE, HOSTILE)], [Node("x", HOSTILE, HOSTILE, True)],
                 [Link(HOSTILE, "x")], title=HOSTILE, desc=HOSTILE, legend=(HOSTILE, HOSTILE)),
        heat_map([HOSTILE], [HOSTILE], {(HOSTILE, HOSTILE): 2}, title=HOSTILE, desc=HOSTILE),
        nothing_to_show(HOSTILE, HOSTILE, HOSTILE),
    ]
    for svg in charts:
        root = parsed(svg)  # well-formed: nothing broke out of its element or attribute
        assert "<script" not in svg and "<b>" not in svg
        assert not [e for e in root.iter() if e.tag in (f"{NS}script", f"{NS}b", "script")]
        assert HOSTILE in "".join(root.itertext())  # shown as text, not dropped


def test_nothing_to_draw_says_so() -> None:
    for svg in (bar_chart([], [], title="t", desc="d"),
                bar_chart(["a"], [Series("s", [0])], title="t", desc="d"),
                timeline([], now=dt.date(2025, 1, 1), title="t", desc="d", states={}),
                flow_map([], [], [], title="t", desc="d"),
                heat_map([], [], {}, title="t", desc="d")):
        assert empty(parsed(svg)), svg
    message = bar_chart([], [], title="t", desc="d", empty="no consent events for x")
    assert "nothing to show: no consent events for x" in message


def test_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        bar_chart(["a", "b", "c"], [Series("s", [1, 2])], title="t", desc="d")


# -- pictures of a sandbox ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop():
    cms = fresh_sandbox(scenario="webshop", customers=300)
    yield cms
    cms.close()


def test_transfer_map_draws_every_category_to_every_place_and_marks_third_countries(shop) -> None:
    locations = shop.storage.locations()
    root = parsed(transfer_map(shop))
    assert len(marks(root, "link")) == sum(len(loc.categories) for loc in locations)
    eea = load_adequacy().eea
    outside = {f"{loc.name} ({loc.country})" for loc in locations if loc.country not in eea}
    assert outside == {"mail-service (US)", "backup-zurich (CH)"}  # the scenario's two
    drawn = {"".join(e.find(f"{NS}title").itertext()).split(":")[0]
             for e in marks(root, "node", state="highlight")}
    assert drawn == outside
    assert "mail-service (US, adequacy:dpf)" in root.find(f"{NS}desc").text


def test_transfer_map_escapes_a_hostile_location_and_says_when_there_is_none(tmp_path) -> None:
    cms = fresh_sandbox(scenario="webshop", customers=20, path=tmp_path / "s.db")
    try:
        with scope.system(cms.connection):  # behind the CMS's back
            cms.connection.execute(
                "INSERT INTO storage_locations (name, kind, country, region, categories,"
                " transfer_mechanism) VALUES (?, 'processor', 'US', ?, ?, 'scc')",
                (HOSTILE, HOSTILE, json.dumps(["contact"])))
        svg = str(transfer_map(cms))
        assert "<script" not in svg and HOSTILE in "".join(parsed(svg).itertext())
        with scope.system(cms.connection):
            cms.connection.execute("DELETE FROM storage_locations")
        assert empty(parsed(transfer_map(cms)))
    finally:
        cms.close()


def test_retention_timeline_has_one_due_bar_per_due_record_across_the_year_boundary(shop) -> None:
    issued = {row[0] for row in sqlite3.connect(shop.path).execute(
        "SELECT id FROM invoices WHERE issued_at < '2020-01-01'")}
    assert issued  # the scenario's first invoices are of 2019
    # On 31 December 2026 the invoices of 2019 are still kept; on 1 January 2027 they are due.
    before = parsed(retention_timeline(shop, rule="invoices", at="2026-12-31T23:59", limit=None))
    assert marks(before, "span", state="due") == []
    assert len(marks(before, "span", state="kept")) >= len(issued)
    after = parsed(retention_timeline(shop, rule="invoices", at="2027-01-01", limit=None))
    due = marks(after, "span", state="due")
    reference = [i for i in shop.retention.due(at="2027-01-01") if i.rule == "invoices"]
    assert len(due) == len(reference) == len(issued)
    assert {int(e.find(f"{NS}title").text.split(":")[0].split()[-1]) for e in due} == issued
    years = [e.find(f"{NS}title").text for e in marks(after, "boundary")]
    assert "2027-01-01: 2027" in years  # the first day of the financial year is drawn


def test_retention_timeline_limit_keeps_both_sides_and_counts_in_the_title(shop) -> None:
    root = parsed(retention_timeline(shop, rule="invoices", at="2027-01-01", limit=10))
    assert len(marks(root, "span", state="due")) == 5
    assert len(marks(root, "span", state="kept")) == 5
    assert "10 drawn" in root.find(f"{NS}title").text
    with pytest.raises(ValueError, match="no retention rule 'bogus'"):
        retention_timeline(shop, rule="bogus")


def test_retention_timeline_with_nothing_due_says_so(tmp_path) -> None:
    cms = fresh_sandbox(scenario="webshop", customers=20, path=tmp_path / "s.db")
    try:
        with scope.system(cms.connection):
            cms.connection.execute("DELETE FROM retention_rules")
        assert empty(parsed(retention_timeline(cms)))
    finally:
        cms.close()


def test_consent_history_counts_every_event_in_its_series() -> None:
    cms = fresh_sandbox(scenario="ebooks", customers=300)
    try:
        rows = sqlite3.connect(cms.path).execute(
            "SELECT event, method FROM consent_events WHERE purpose = 'antipiracy_sharing'"
        ).fetchall()
        valid = {name for name, m in load_methods().items() if m.valid}
        expected = {
            "valid grants": sum(e != "withdrawn" and m in valid for e, m in rows),
            "no consent (pre-ticked, terms)": sum(e != "withdrawn" and m not in valid
                                                  for e, m in rows),
            "withdrawals": sum(e == "withdrawn" for e, _ in rows),
        }
        assert all(expected.values())  # the scenario has each kind
        root = parsed(consent_history(cms, "antipiracy_sharing"))
        drawn = dict.fromkeys(expected, 0)
        for bar in marks(root, "bar"):
            drawn[bar.get("data-series")] += int(bar.find(f"{NS}title").text.split(": ")[-1])
        assert drawn == expected
        last = cms.audit.entries()[-1]
        assert last.purpose == "consent_administration" and last.actor == "charts"
        with scope.system(cms.connection):
            cms.connection.execute("DELETE FROM consent_events WHERE purpose = 'newsletter'")
        assert empty(parsed(consent_history(cms, "newsletter")))
    finally:
        cms.close()


def test_a_chart_shows_inline_in_jupyter(shop) -> None:
    chart = transfer_map(shop)
    assert chart._repr_html_().startswith('<figure class="sandbox-chart"><svg')
    assert chart._repr_svg_() == str(chart)


# -- the dashboard -----------------------------------------------------------------------------


def test_the_dashboard_shows_retention_due_and_kept(tmp_path) -> None:
    from sandbox_cms.data.build import fresh_copy
    from sandbox_cms.web import create_app

    db = fresh_copy(tmp_path / "web.db")
    client = create_app(db).test_client()
    page = client.get("/?at=2027-01-01").get_data(as_text=True)
    start = page.index('<figure class="chart" id="retention-chart">')
    svg = page[start:page.index("</figure>", start)].split(">", 1)[1]
    root = parsed(svg)
    with sqlite3.connect(db) as conn:
        invoices = conn.execute("SELECT count(*) FROM invoices").fetchone()[0]
        early = conn.execute(
            "SELECT count(*) FROM invoices WHERE issued_at < '2020-01-01'").fetchone()[0]
    bars = {e.find(f"{NS}title").text.split(": ")[0]: int(e.find(f"{NS}title").text.split(
        ": ")[1]) for e in marks(root, "bar")}
    assert bars["invoices, due"] == early
    assert bars["invoices, kept"] == invoices - early
    assert bars["customer accounts, due"] > 0


def test_access_copy_chart_counts_each_section_and_shows_no_value(shop) -> None:
    with shop.processing("customer_service") as p:
        email = p.query("SELECT c.email FROM customers c JOIN orders o ON o.customer_id = c.id"
                        " ORDER BY c.id LIMIT 1")[0]["email"]
    copy = shop.dsr.export(email)
    assert copy["orders"]
    chart = access_copy_chart(copy)
    root = parsed(chart)
    bars = {"".join(e.find(f"{NS}title").itertext()) for e in marks(root, "bar")}
    assert any(t.startswith("orders") and t.endswith(f": {len(copy['orders'])}") for t in bars)
    assert any(t.startswith("purposes") and t.endswith(f": {len(copy['purposes'])}")
               for t in bars)
    assert email not in str(chart) and copy["customer"]["last_name"] not in str(chart)
    assert empty(parsed(access_copy_chart({"format": "x"})))
