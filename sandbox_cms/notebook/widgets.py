"""Notebook views of the sandbox (ipywidgets 8): a customer card, the audit log, the clock,
and a consent form.

Each view only reads its widgets, calls the sandbox's own functions and shows the answer;
a :class:`~sandbox_cms.core.errors.SandboxError` becomes a message in the view, never a
traceback. Every view has plain Python accessors (``shown()``, ``rows()``, ``message``) so
tests and learners can check what it displays without a browser.

- :class:`CustomerCard` asks *why* before it shows anything, then shows only the columns the
  chosen purpose may use, read through ``cms.processing`` (so the access is audited).
- :class:`AuditLogView` lists audit entries, filtered by purpose, action and customer.
- :class:`ClockControl` shows the simulated clock and moves it forward.
- :class:`ConsentForm` asks one question per consent-based purpose, each with its own
  unticked box (art. 4(11), 7(2); recital 32).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from sandbox_cms.core.errors import SandboxError
from sandbox_cms.privacy.customer_record import CustomerRecord, open_record

AUDIT_LIMIT = 25  # newest entries shown by the audit view
CLOCK_STEPS = (("+1 day", 1), ("+30 days", 30), ("+1 year", 365))
CONSENT_GROUND = "consent"


def _escape(value: Any) -> str:
    return "–" if value is None else html.escape(str(value))


_CELL = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"
ANY = ""  # the dropdown value for "no filter" / "no purpose chosen yet"


def _table(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    head = "".join(f"<th style='{_CELL}'>{_escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{_escape(row.get(c))}</td>" for c in columns)
        + "</tr>"
        for row in rows
    )
    return (f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _note(text: str, kind: str = "info") -> str:
    colour = {"info": "#555", "error": "#a00000"}[kind]
    return f"<p style='color:{colour}'>{html.escape(text)}</p>"


def _field(item: Any, name: str) -> Any:
    """A field of a dataclass, namedtuple or dict (the sandbox returns either)."""
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _purposes(cms: Any, *, internal: bool = False) -> dict[str, Any]:
    """The register's purposes, without the CMS's own internal ones unless asked."""
    return {
        name: p for name, p in sorted(cms.register.purposes.items())
        if internal or not _field(p, "internal")
    }


class _View:
    """Displays as its ``widget`` in a notebook."""

    widget: widgets.Widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class CustomerCard(_View):
    """One customer's record, shown only after a purpose is chosen, and only its columns."""

    def __init__(self, cms: Any, customer_id: int = 1) -> None:
        self.cms = cms
        self.record: CustomerRecord | None = None
        self.message = ""
        options = [("— choose why you open it —", ANY)] + [
            (f"{_field(p, 'title')} ({name})", name) for name, p in _purposes(cms).items()
        ]
        self.purpose = widgets.Dropdown(
            options=options, value=ANY, description="Purpose",
            style={"description_width": "initial"}, layout=widgets.Layout(width="420px"),
        )
        self.customer = widgets.BoundedIntText(
            value=customer_id, min=1, max=10**9, description="Customer id"
        )
        self.view = widgets.HTML()
        self.purpose.observe(self._changed, names="value")
        self.customer.observe(self._changed, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.customer, self.purpose]), self.view])
        self.refresh()

    def _changed(self, _change: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Open the record under the chosen purpose (audited) and show it."""
        self.record = None
        purpose = self.purpose.value
        if not purpose:
            self._say("Choose why you open this record. No personal data is shown until a "
                      "purpose is chosen (purpose limitation, art. 5(1)(b) GDPR).")
            return
        try:
            self.record = open_record(self.cms, int(self.customer.value), purpose)
        except SandboxError as exc:
            self._say(str(exc), "error")
            return
        self.message = ""
        parts = [_note(f"Opened under '{purpose}': only the columns this purpose may use; "
                       "the access is in the audit log.")]
        for section in self.record.sections:
            if section.rows:
                parts.append(f"<h4>{_escape(section.table)}</h4>")
                parts.append(_table(section.columns, section.rows))
        self.view.value = "".join(parts)

    def _say(self, text: str, kind: str = "info") -> None:
        self.message = text
        self.view.value = _note(text, kind)

    def shown(self) -> dict[str, list[dict[str, Any]]]:
        """What the card displays now: table name -> rows (empty before a purpose is chosen)."""
        if self.record is None:
            return {}
        return {s.table: [dict(r) for r in s.rows] for s in self.record.sections if s.rows}


class AuditLogView(_View):
    """The newest audit entries, filtered by purpose, action and customer id."""

    ENTRY_COLUMNS = ("seq", "at", "actor", "purpose", "action", "table", "columns", "rows")

    def __init__(self, cms: Any, limit: int = AUDIT_LIMIT) -> None:
        self.cms = cms
        self.limit = limit
        self.message = ""
        self._rows: list[dict[str, Any]] = []
        purposes = list(_purposes(cms, internal=True))
        self.purpose = widgets.Dropdown(
            options=[("any purpose", ANY)] + [(p, p) for p in purposes], value=ANY,
            description="Purpose",
        )
        self.action = widgets.Dropdown(options=[("any action", ANY)], value=ANY,
                                       description="Action")
        self.customer = widgets.Text(value="", placeholder="any", description="Customer id")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.view = widgets.HTML()
        for control in (self.purpose, self.action):
            control.observe(lambda _c: self.refresh(), names="value")
        self.customer.observe(lambda _c: self.refresh(), names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.widget = widgets.VBox([
            widgets.HBox([self.purpose, self.action]),
            widgets.HBox([self.customer, self.refresh_button]),
            self.view,
        ])
        self.refresh()

    def _customer_filter(self) -> tuple[bool, int | None]:
        text = self.customer.value.strip()
        if not text:
            return True, None
        if not text.isdigit():
            return False, None
        return True, int(text)

    def refresh(self) -> None:
        """Read the entries that match the filters and show the newest ``limit``."""
        ok, customer_id = self._customer_filter()
        if not ok:
            self.message = (f"customer id must be a whole number, not {self.customer.value!r}; "
                            "the list below is unchanged")
            self.view.value = _note(self.message, "error") + _table(self.ENTRY_COLUMNS, self._rows)
            return
        try:
            entries = self.cms.audit.entries(
                purpose=self.purpose.value or None, customer_id=customer_id,
                action=self.action.value or None,
            )
            self._update_actions()
        except SandboxError as exc:
            self.message = str(exc)
            self.view.value = _note(self.message, "error")
            return
        self.message = ""
        self._rows = [self._row(e) for e in list(entries)[-self.limit:]][::-1]
        total = len(entries)
        header = _note(f"{total} matching entries; newest first"
                       + (f", the first {self.limit} shown" if total > self.limit else "") + ".")
        self.view.value = header + _table(self.ENTRY_COLUMNS, self._rows)

    def _update_actions(self) -> None:
        actions = sorted({str(_field(e, "action")) for e in self.cms.audit.entries()})
        options = [("any action", ANY)] + [(a, a) for a in actions]
        if list(self.action.options) != options:
            current = self.action.value
            with self.action.hold_trait_notifications():
                self.action.options = options
                self.action.value = current if current in actions else ANY

    @staticmethod
    def _row(entry: Any) -> dict[str, Any]:
        columns = _field(entry, "columns")
        row_ids = _field(entry, "row_ids")
        if isinstance(columns, str):
            columns = json.loads(columns) if columns.startswith("[") else [columns]
        if isinstance(row_ids, str):
            row_ids = json.loads(row_ids) if row_ids.startswith("[") else [row_ids]
        ids = list(row_ids or [])
        shown_ids = ", ".join(str(i) for i in ids[:5])
        if len(ids) > 5:
            shown_ids += f" (+{len(ids) - 5})"
        return {
            "seq": _field(entry, "seq"),
            "at": str(_field(entry, "at") or "").replace("T", " "),
            "actor": _field(entry, "actor"),
            "purpose": _field(entry, "purpose"),
            "action": _field(entry, "action"),
            "table": _field(entry, "table_name") or _field(entry, "table"),
            "columns": ", ".join(columns or []),
            "rows": shown_ids,
        }

    def rows(self) -> list[dict[str, Any]]:
        """The entries the view shows now (newest first), as plain dicts."""
        return [dict(r) for r in self._rows]


class ClockControl(_View):
    """Shows the sandbox clock and moves it forward (a retention job "on 2031-01-01")."""

    def __init__(self, cms: Any) -> None:
        self.cms = cms
        self.message = ""
        self.now_label = widgets.HTML()
        self.buttons = [widgets.Button(description=label) for label, _days in CLOCK_STEPS]
        for button, (_label, days) in zip(self.buttons, CLOCK_STEPS, strict=True):
            button.on_click(lambda _b, days=days: self.advance(days))
        self.date = widgets.DatePicker(description="Jump to")
        self.jump_button = widgets.Button(description="Go")
        self.jump_button.on_click(lambda _b: self.jump())
        self.feedback = widgets.HTML()
        self.widget = widgets.VBox([
            self.now_label,
            widgets.HBox(self.buttons),
            widgets.HBox([self.date, self.jump_button]),
            self.feedback,
        ])
        self.refresh()

    def now(self) -> dt.datetime:
        return self.cms.clock.now()

    def refresh(self) -> None:
        self.now_label.value = (f"<b>Sandbox clock:</b> {_escape(self.now().isoformat(' '))}"
                                " (simulated time; the real date does not matter here)")
        self.feedback.value = _note(self.message, "error") if self.message else ""

    def advance(self, days: int) -> None:
        """Move the clock forward by ``days``."""
        self._move(lambda: self.cms.clock.advance(days=days))

    def jump(self) -> None:
        """Move the clock to the picked date (09:00); moving backwards is refused."""
        picked = self.date.value
        if picked is None:
            self.message = "pick a date first"
            self.refresh()
            return
        self._move(lambda: self.cms.clock.set(dt.datetime.combine(picked, dt.time(9, 0))))

    def _move(self, action: Any) -> None:
        try:
            action()
        except SandboxError as exc:
            self.message = str(exc)
        else:
            self.message = ""
        self.refresh()


class ConsentForm(_View):
    """The consent question of a checkout: one unticked box per consent-based purpose, with
    its text. "Save" records a grant for each ticked box; an unticked box records nothing,
    because silence is no consent (recital 32) and no withdrawal either."""

    METHOD = "separate_checkbox"
    CHANNEL = "notebook"

    def __init__(self, cms: Any, customer_id: int = 1) -> None:
        self.cms = cms
        self.message = ""
        self.customer = widgets.BoundedIntText(value=customer_id, min=1, max=10**9,
                                               description="Customer id")
        self.questions: dict[str, tuple[str, str]] = {}  # purpose -> (version, text)
        self.boxes: dict[str, widgets.Checkbox] = {}
        for name, purpose in _purposes(cms).items():
            if _field(purpose, "legal_ground") != CONSENT_GROUND:
                continue
            text = self._latest_text(name)
            if text is None:
                continue
            self.questions[name] = text
            self.boxes[name] = widgets.Checkbox(
                value=False, description=text[1], indent=False,
                layout=widgets.Layout(width="auto"),
            )
        self.save_button = widgets.Button(description="Save", button_style="primary")
        self.save_button.on_click(lambda _b: self.save())
        self.feedback = widgets.HTML()
        self.widget = widgets.VBox(
            [self.customer, *self.boxes.values(), self.save_button, self.feedback]
        )

    def _latest_text(self, purpose: str) -> tuple[str, str] | None:
        with self.cms.processing(purpose) as p:
            rows = p.query(
                "SELECT version, text FROM consent_texts WHERE purpose = ?"
                " ORDER BY published_at DESC LIMIT 1", (purpose,),
            )
        return (rows[0]["version"], rows[0]["text"]) if rows else None

    def save(self) -> list[str]:
        """Record a grant for each ticked box, then untick them all; return the purposes."""
        customer_id = int(self.customer.value)
        done: list[str] = []
        try:
            for purpose, box in self.boxes.items():
                if not box.value:
                    continue
                version = self.questions[purpose][0]
                self.cms.consent.record(customer_id, purpose, "granted", version, self.METHOD,
                                        self.CHANNEL)
                done.append(purpose)
                box.value = False
        except SandboxError as exc:
            self.message = str(exc)
            self.feedback.value = _note(self.message, "error")
            return done
        self.message = (f"consent recorded for customer {customer_id}: {', '.join(done)}"
                        if done else "nothing ticked, nothing recorded (silence is no consent)")
        self.feedback.value = _note(self.message)
        return done
