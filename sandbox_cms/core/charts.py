"""Small charts drawn by hand as SVG strings: bars, a timeline, a flow map and a heat map.

One mechanism for every picture of the course: the notebooks show them (``IPython.display.SVG``
or HTML), the web dashboard inlines them, and the class report (``grading.report``) draws its
heat map and histograms with them. No plotting library and no script: each chart is one
``<svg role="img">`` with a ``<title>`` and a ``<desc>`` for screen readers, every text
escaped, colours as presentation attributes (the web CMS's Content-Security-Policy allows no
inline style). A chart with nothing to draw says so in words instead of drawing empty axes.

Every mark carries ``data-mark`` (``bar``, ``span``, ``link``, ``node``, ``cell``) and,
where it has one, ``data-state`` or ``data-series``, so a test can count what was drawn.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SVG_NS = "http://www.w3.org/2000/svg"
FONT = 'font-family="sans-serif" font-size="11"'
NOTHING = "nothing to show"

# Colours that stay apart for the common colour-vision deficiencies (Okabe-Ito).
COLOURS = {"blue": "#0072B2", "orange": "#E69F00", "red": "#D55E00", "green": "#009E73",
           "grey": "#999999", "purple": "#CC79A7", "sky": "#56B4E9", "ink": "#222222"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _open(width: float, height: float, title: str, desc: str, kind: str) -> list[str]:
    return [f'<svg xmlns="{SVG_NS}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" {FONT} '
            f'data-chart="{_e(kind)}" aria-label="{_e(title)}">',
            f"<title>{_e(title)}</title>", f"<desc>{_e(desc)}</desc>"]


def nothing_to_show(title: str, desc: str = "", message: str = NOTHING) -> str:
    """An SVG that says in words that there is nothing to draw (and why, if ``message``)."""
    text = message if message.startswith(NOTHING) else f"{NOTHING}: {message}"
    width = max(220, 7 * len(text) + 20)
    parts = _open(width, 40, title, desc or text, "empty")
    parts.append(f'<text x="10" y="25" data-mark="empty">{_e(text)}</text></svg>')
    return "".join(parts)


def _legend(parts: list[str], entries: Sequence[tuple[str, str]], x: float, y: float) -> None:
    for name, colour in entries:
        if not name:
            continue
        parts.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{x + 14:.0f}" y="{y:.0f}">{_e(name)}</text>')
        x += 24 + 7 * len(name)


# -- bars -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    """One row of values of a bar chart, one value per label."""

    name: str
    values: Sequence[float]
    colour: str = COLOURS["blue"]


def bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, desc: str,
              height: int = 140, bar: int = 14, unit: str = "", stacked: bool = False,
              label_every: int = 1, note: str = "", empty: str = NOTHING) -> str:
    """Vertical bars, one group (or stack) per label, one bar per series.

    ``label_every`` prints every n-th label under the axis (a long time axis stays legible);
    each bar's ``<title>`` always names its label, series and value. ``note`` is a line of
    text under the chart.
    """
    if not labels or not series or not any(v for s in series for v in s.values):
        return nothing_to_show(title, desc, empty)
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for "
                             f"{len(labels)} labels")
    per_group = 1 if stacked else len(series)
    group = bar * per_group + 6
    if stacked:
        most = max(sum(s.values[i] for s in series) for i in range(len(labels)))
    else:
        most = max(v for s in series for v in s.values)
    left, top, bottom = 44, 24, 46
    width = left + group * len(labels) + 10
    width = max(width, 60 + sum(24 + 7 * len(s.name) for s in series))
    parts = _open(width, top + height + bottom, title, desc, "bars")
    base = top + height
    flat = all(6.5 * len(label) <= group for label in labels)  # short labels stay level
    parts.append(f'<line x1="{left - 4}" y1="{base}" x2="{width - 6}" y2="{base}" '
                 f'stroke="{COLOURS["ink"]}"/>')
    parts.append(f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{most:g}{_e(unit)}'
                 f'</text><text x="{left - 6}" y="{base}" text-anchor="end">0</text>')
    for i, label in enumerate(labels):
        x0 = left + i * group
        stack = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            h = height * value / most if most else 0
            x = x0 if stacked else x0 + k * bar
            y = base - h - (height * stack / most if stacked else 0)
            stack += value if stacked else 0
            if value:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1}" height="{h:.1f}" '
                    f'fill="{s.colour}" data-mark="bar" data-series="{_e(s.name)}">'
                    f"<title>{_e(label)}, {_e(s.name)}: {value:g}{_e(unit)}</title></rect>")
        if i % max(1, label_every) == 0:
            cx = x0 + (group - 6) / 2
            if flat:
                parts.append(f'<text x="{cx:.1f}" y="{base + 14}" text-anchor="middle">'
                             f"{_e(label)}</text>")
            else:
                parts.append(f'<text transform="translate({cx:.1f},{base + 10}) rotate(45)">'
                             f"{_e(label)}</text>")
    if len(series) > 1 or series[0].name:
        _legend(parts, [(s.name, s.colour) for s in series], left, 14)
    if note:
        parts.append(f'<text x="{left - 34}" y="{top + height + bottom - 4}">{_e(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- a timeline -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """One record on a timeline: from ``start`` to ``end`` (its due date), in a state."""

    label: str
    start: dt.date
    end: dt.date
    state: str
    note: str = ""


def _day_text(value: dt.date | dt.datetime) -> str:
    return _as_date(value).isoformat()


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def timeline(spans: Sequence[Span], *, now: dt.date | dt.datetime, title: str, desc: str,
             states: Mapping[str, str], boundaries: Sequence[tuple[dt.date, str]] = (),
             width: int = 640, row: int = 16, empty: str = NOTHING) -> str:
    """One bar per span, from its start to its end, coloured by state; a line at ``now``
    and a dashed line at each boundary (e.g. every 1 January: the end of a financial year).

    ``states`` maps each state to its colour, in legend order.
    """
    if not spans:
        return nothing_to_show(title, desc, empty)
    now_d = _as_date(now)
    first = min(min(_as_date(s.start) for s in spans), now_d)
    last = max(max(_as_date(s.end) for s in spans), now_d)
    days = max((last - first).days, 1)
    left, right, top = 150, 70, 34
    plot = width - left - right
    height = top + row * len(spans) + 30

    def x_of(day: dt.date) -> float:
        return left + plot * (_as_date(day) - first).days / days

    parts = _open(width, height, title, desc, "timeline")
    _legend(parts, list(states.items()), left, 14)
    for day, text in boundaries:
        if first <= _as_date(day) <= last:
            x = x_of(day)
            parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 22}" '
                         f'stroke="{COLOURS["grey"]}" stroke-dasharray="3,3" '
                         f'data-mark="boundary"><title>{_day_text(day)}: {_e(text)}</title></line>'
                         f'<text x="{x + 2:.1f}" y="{height - 10}" font-size="9">{_e(text)}'
                         "</text>")
    for i, s in enumerate(spans):
        y = top + i * row
        colour = states.get(s.state, COLOURS["grey"])
        x1, x2 = x_of(s.start), x_of(s.end)
        note = f" ({s.note})" if s.note else ""
        parts.append(f'<text x="{left - 6}" y="{y + row - 5}" text-anchor="end">'
                     f"{_e(s.label[:28])}</text>")
        parts.append(f'<rect x="{x1:.1f}" y="{y + 2}" width="{max(x2 - x1, 2):.1f}" '
                     f'height="{row - 5}" fill="{colour}" data-mark="span" '
                     f'data-state="{_e(s.state)}"><title>{_e(s.label)}: '
                     f"{_as_date(s.start).isoformat()} to {_as_date(s.end).isoformat()}, "
                     f"{_e(s.state)}{_e(note)}</title></rect>")
    x = x_of(now_d)
    parts.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 22}" '
                 f'stroke="{COLOURS["ink"]}" stroke-width="2" data-mark="now"/>'
                 f'<text x="{x - 3:.1f}" y="{top - 10}" text-anchor="end">now '
                 f"{now_d.isoformat()}</text></svg>")
    return "".join(parts)


# -- a flow map -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    """A box of a flow map; ``highlight`` draws it (and the links into it) in red."""

    key: str
    label: str
    note: str = ""
    highlight: bool = False


@dataclass(frozen=True)
class Link:
    source: str
    target: str


def flow_map(sources: Sequence[Node], targets: Sequence[Node], links: Sequence[Link], *,
             title: str, desc: str, legend: tuple[str, str] = ("", "highlighted"),
             width: int = 640, row: int = 22, empty: str = NOTHING) -> str:
    """Sources in a left column, targets in a right one, a line for each link; highlighted
    targets and the links into them in red. ``legend`` names the plain and the highlighted
    targets."""
    if not sources or not targets or not links:
        return nothing_to_show(title, desc, empty)
    left_x, box = 10, 170
    right_x = width - box - 10
    top = 34
    height = top + row * max(len(sources), len(targets)) + 10
    y_src = {n.key: top + i * row for i, n in enumerate(sources)}
    y_tgt = {n.key: top + i * row for i, n in enumerate(targets)}
    marked = {n.key for n in targets if n.highlight}
    parts = _open(width, height, title, desc, "flow")
    _legend(parts, [(legend[0], COLOURS["blue"]), (legend[1], COLOURS["red"])], left_x, 14)
    for link in links:
        if link.source not in y_src or link.target not in y_tgt:
            raise ValueError(f"link {link.source!r} -> {link.target!r} names no node")
        y1, y2 = y_src[link.source] + row / 2 - 2, y_tgt[link.target] + row / 2 - 2
        x1, x2 = left_x + box, right_x
        mid = (x1 + x2) / 2
        colour = COLOURS["red"] if link.target in marked else COLOURS["sky"]
        state = "highlight" if link.target in marked else "plain"
        parts.append(f'<path d="M{x1},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} '
                     f'{x2},{y2:.1f}" fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'data-mark="link" data-state="{state}">'
                     f"<title>{_e(link.source)} to {_e(link.target)}</title></path>")
    for nodes, x, ys in ((sources, left_x, y_src), (targets, right_x, y_tgt)):
        for n in nodes:
            colour = COLOURS["red"] if n.highlight else COLOURS["blue"]
            note = f": {n.note}" if n.note else ""
            parts.append(f'<rect x="{x}" y="{ys[n.key]}" width="{box}" height="{row - 4}" '
                         f'rx="3" fill="white" stroke="{colour}" data-mark="node" '
                         f'data-state="{"highlight" if n.highlight else "plain"}">'
                         f"<title>{_e(n.label)}{_e(note)}</title></rect>"
                         f'<text x="{x + 5}" y="{ys[n.key] + row - 9}" fill="{colour}">'
                         f"{_e(n.label[:30])}</text>")
    parts.append("</svg>")
    return "".join(parts)


# -- a heat map -----------------------------------------------------------------------------

def heat_map(rows: Sequence[str], columns: Sequence[str], values: Mapping[tuple[str, str], int],
             *, title: str, desc: str, cell: int = 22, empty: str = NOTHING) -> str:
    """A grid of counts, ``rows`` x ``columns``, the darker the more; zero cells pale green."""
    if not rows or not columns:
        return nothing_to_show(title, desc, empty)
    most = max([*values.values(), 1])
    left, top = 160, 190
    width, height = left + cell * len(columns) + 10, top + cell * len(rows) + 10
    parts = _open(width, height, title, desc, "heat")
    for j, column in enumerate(columns):
        x = left + j * cell + cell // 2
        parts.append(f'<text transform="translate({x},{top - 6}) rotate(-60)">'
                     f"{_e(column[:40])}</text>")
    for i, name in enumerate(rows):
        y = top + i * cell
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_e(name)}</text>')
        for j, column in enumerate(columns):
            n = values.get((name, column), 0)
            shade = 255 - int(200 * n / most) if n else 245
            fill = f"rgb(255,{shade},{shade})" if n else "rgb(235,245,235)"
            parts.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" '
                         f'height="{cell - 2}" fill="{fill}" data-mark="cell">'
                         f"<title>{_e(name)}: {_e(column)}: {n}</title></rect>")
            if n:
                parts.append(f'<text x="{left + j * cell + 7}" y="{y + 15}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)
