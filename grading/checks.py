"""Policy checks: small pure functions that raise :class:`PrincipleViolation`.

Each check compares what happened (a learner's result, rows in the sandbox, audit entries)
with what the reference engine (:mod:`grading.engine`) says should have happened. A failure
names the principle, the article and up to three concrete records in plain words::

    Consent (art. 7(3) GDPR): 2 customers received the mailing without valid consent:
    customer 812 withdrew newsletter consent on 2025-03-02; customer 97 ...

``PrincipleViolation`` subclasses ``AssertionError`` so that nbgrader counts it as a failed
test, and pytest shows it as an assertion.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from grading.principles import principle as _principle

MAX_RECORDS = 3
"""Records a message names; the rest are counted ("… and 37 more")."""

MAX_RECORD_CHARS = 240
"""One record's text is cut to this length (a record quoting a long value stays readable)."""

MAX_PROBLEM_CHARS = 600
"""The problem sentence is cut to this length."""

MAX_IDS = 5
"""Ids an id list names before it counts the rest."""


class PrincipleViolation(AssertionError):
    """A graded answer broke a principle; the message names it, its article and records.

    The message is what a learner reads: the principle and article first, then the problem
    and at most :data:`MAX_RECORDS` records, long ones cut, machine paths shortened. A
    violation found on the hidden variant is shown through :meth:`for_hidden`, which keeps
    the principle and the *kind* of each record but no id, name, e-mail or date of the
    hidden sandbox. In IPython (a notebook test cell) it renders as one line,
    ``PrincipleViolation: <message>``, without the grader's traceback.
    """

    def __init__(
        self,
        principle: str,
        problem: str,
        records: Iterable[str] = (),
        *,
        article: str | None = None,
        hidden: bool = False,
    ) -> None:
        p = _principle(principle)
        self.principle = p.key
        self.title = p.title
        self.article = article or p.article
        self.rule = p.rule
        self.problem = problem
        self.records = list(records)
        self.hidden = hidden
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.hidden:
            return self._hidden_message()
        problem = _cut(_short_paths(self.problem), MAX_PROBLEM_CHARS)
        text = f"{self.title} ({self.article}): {problem}"
        if self.records:
            shown = "; ".join(_cut(_short_paths(str(r)), MAX_RECORD_CHARS)
                              for r in self.records[:MAX_RECORDS])
            text = f"{text.rstrip('.:')}: {shown}" + _more(len(self.records) - MAX_RECORDS)
        return text if text.endswith(".") else text + "."

    def _hidden_message(self) -> str:
        problem = _cut(redact(_short_paths(self.problem)), MAX_PROBLEM_CHARS).rstrip(".:")
        text = f"{self.title} ({self.article}): {problem}"
        if self.records:
            kinds: dict[str, int] = {}
            for record in self.records:
                kind = record_kind(str(record))
                kinds[kind] = kinds.get(kind, 0) + 1
            shown = ", ".join(k if n == 1 else f"{k} ({n}\u00d7)" for k, n in kinds.items())
            text += f" (on the hidden scenario; records: {_cut(shown, MAX_RECORD_CHARS)})"
        else:
            text += " (on the hidden scenario)"
        return text + "."

    def for_hidden(self) -> PrincipleViolation:
        """The same violation as the hidden variant shows it: no hidden data."""
        if self.hidden:
            return self
        return PrincipleViolation(self.principle, self.problem, self.records,
                                  article=self.article, hidden=True)

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this exception: the message, then the rule; no frames."""
        return [f"PrincipleViolation: {self.message}", f"The rule: {self.rule}"]

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.principle, self.problem, self.records, self.article,
                           self.hidden))


def _rebuild(principle: str, problem: str, records: list[str], article: str,
             hidden: bool) -> PrincipleViolation:
    return PrincipleViolation(principle, problem, records, article=article, hidden=hidden)


def _more(extra: int) -> str:
    return f" \u2026 and {extra} more" if extra > 0 else ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.+@-]+/)+([\w.+@-]+)")


def _short_paths(text: str) -> str:
    """Absolute paths of the grading machine shortened to their last part (``…/backup.db``)."""
    return _PATH.sub(lambda m: f"\u2026/{m.group(1)}", text)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:[+-]\d{2}:?\d{2}|Z)?)?")
_QUOTED = re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)\"[^\"\n]*\"(?!\w)")
_ID_NOUNS = (r"customers?|ids?|rows?|entry|entries|mailings?|invoices?|orders?|forms?"
             r"|disclosures?|records?|seq|accounts?|persons?|people|buyers?|#")
_ERROR_TEXT = re.compile(r"\b(\w*(?:Error|Exception)): (.*?)(?= at line \d+|\)|$)")
_IDS_AFTER_NOUN = re.compile(
    rf"\b({_ID_NOUNS})\s+(?:such as\s+|like\s+)?#?\d+"
    rf"(?:(?:\s*,\s*|\s+and\s+|\s+or\s+|\s*-\s*)#?\d+)*", re.I)


def redact(text: str) -> str:
    """A problem sentence without the hidden sandbox's data: e-mail addresses, dates,
    quoted values that hold a digit, a capital (a name) or an ``@``, and ids after a noun
    (``customer 812``, ``ids 3, 5``) are replaced by words; counts (``12 customers``) and
    articles stay."""
    text = _EMAIL.sub("\u2026", text)
    text = _DATE.sub("a date", text)
    text = _QUOTED.sub(lambda m: "'\u2026'" if re.search(r"[\d@A-Z]", m.group()) else m.group(),
                       text)
    text = _IDS_AFTER_NOUN.sub(lambda m: f"{m.group(1)} \u2026", text)
    text = _ERROR_TEXT.sub(
        lambda m: f"{m.group(1)}: \u2026" if re.search(r"[\d'\"@]", m.group(2)) else m.group(),
        text)
    return text


def record_kind(record: str) -> str:
    """The kind of one record, without its data: ``customer 812 withdrew …`` is
    ``customer``, ``audit entry 12: …`` is ``audit entry``; a short record that names no
    id, e-mail, date, quoted value or name-like detail after a colon (``column
    customers.iban``) is shown as it is; anything else is a ``record``."""
    match = re.match(r"\s*([A-Za-z][A-Za-z _.-]{0,40}?)\s+#?\d", record)
    if match:
        return match.group(1).strip()
    plain = not (_EMAIL.search(record) or _DATE.search(record) or _QUOTED.search(record)
                 or re.search(r"[\d:]", record))
    return record if plain and len(record) <= 100 else "record"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _id_key(value: Any) -> tuple[int, Any, str]:
    """Sort ids as numbers (2 before 10), anything else after them as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value, "")
    text = str(value)
    if text.strip().lstrip("-").isdigit():
        return (0, int(text), text)
    return (1, 0, text)


def sorted_ids(ids: Iterable[Any]) -> list[Any]:
    """Ids in numeric order (``2, 10, 100``, not ``10, 100, 2``)."""
    return sorted(ids, key=_id_key)


def _ids(ids: Iterable[Any]) -> str:
    ids = sorted_ids(ids)
    shown = ", ".join(str(i) for i in ids[:MAX_IDS])
    return shown + _more(len(ids) - MAX_IDS)


# --- the task itself -----------------------------------------------------------------


def check_type(value: Any, expected: type | tuple[type, ...], what: str) -> None:
    """The learner returned the kind of value the exercise asks for."""
    if isinstance(value, expected):
        return
    names = (
        " or ".join(t.__name__ for t in expected)
        if isinstance(expected, tuple)
        else expected.__name__
    )
    got = "None (did you forget `return`?)" if value is None else type(value).__name__
    raise PrincipleViolation(
        "task", f"{what} should be a {names}, but your function returned {got}"
    )


def check_ids(value: Any, what: str) -> set[int]:
    """A collection of integer ids (list, set, tuple); returns it as a set."""
    check_type(value, (list, set, tuple, frozenset), what)
    bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int)]
    if bad:
        raise PrincipleViolation(
            "task", f"{what} should hold integer customer ids, not {type(bad[0]).__name__} "
            f"values like {bad[0]!r}"
        )
    return set(value)


def check_complete(actual: Collection[Any], expected: Collection[Any], what: str) -> None:
    """Nothing the task needs is missing (a task failure, not a principle)."""
    missing = set(expected) - set(actual)
    if missing:
        raise PrincipleViolation(
            "task",
            f"{what} misses {_plural(len(missing), 'record')} the task needs: ids {_ids(missing)}",
        )


# --- purpose limitation and minimisation ---------------------------------------------


def check_columns(
    used: Iterable[str], allowed: Collection[str], *, principle: str = "minimisation",
    context: str = "your answer",
) -> None:
    """Only the allowed columns (``table.column`` or bare names) were used."""
    extra = sorted(set(used) - set(allowed))
    if extra:
        raise PrincipleViolation(
            principle,
            f"{context} uses {_plural(len(extra), 'column')} the task does not need",
            [f"column {c}" for c in extra],
        )


def check_rows(actual: Collection[Any], needed: Collection[Any], what: str) -> None:
    """No more rows than the task needs (minimisation), none missing (task)."""
    extra = set(actual) - set(needed)
    if extra:
        raise PrincipleViolation(
            "minimisation",
            f"{what} holds {_plural(len(extra), 'record')} the task does not need: "
            f"ids {_ids(extra)}",
        )
    check_complete(actual, needed, what)


def check_purpose_log(entries: Sequence[Mapping[str, Any]], purpose: str) -> None:
    """Every audited access ran under ``purpose`` and none went outside that purpose.

    ``entries`` are audit-log rows (dicts with the schema's columns) written while the
    learner's code ran. In "record" mode the sandbox logs a refused access instead of
    raising; such entries and accesses under another purpose (or none) break 5(1)(b).
    """
    records = []
    for e in entries:
        if is_violation(e):
            records.append(_describe_entry(e, f"outside purpose {e.get('purpose')!r}"))
        elif e.get("purpose") != purpose:
            records.append(_describe_entry(e, f"under purpose {e.get('purpose')!r}"))
    if records:
        raise PrincipleViolation(
            "purpose_limitation",
            f"the task runs under purpose {purpose!r}, but your code processed data otherwise",
            records,
        )


def is_violation(entry: Mapping[str, Any]) -> bool:
    """Whether an audit entry records an access outside its purpose (record mode)."""
    action = str(entry.get("action") or "")
    if action in {"violation", "refused", "denied"} or action.startswith("violation"):
        return True
    detail = _detail(entry)
    return isinstance(detail, dict) and bool(detail.get("violation") or detail.get("outside"))


def _describe_entry(entry: Mapping[str, Any], how: str) -> str:
    columns = entry.get("columns")
    if isinstance(columns, str):
        try:
            columns = json.loads(columns)
        except ValueError:
            columns = [columns]
    cols = ", ".join(columns or []) or entry.get("table_name") or "data"
    action = entry.get("action")
    if is_violation(entry):
        detail = _detail(entry)
        kinds = detail.get("kinds") if isinstance(detail, dict) else None
        verb = "/".join(k for k in kinds if k != "action") if kinds else "use"
        action = f"{verb or 'use'} of"
        if isinstance(detail, dict) and detail.get("action"):
            action = f"{detail['action']} with"
    else:
        action = f"{action} of"
    return f"audit entry {entry.get('seq')}: {action} {cols} {how}"


def _detail(entry: Mapping[str, Any]) -> Any:
    detail = entry.get("detail")
    if isinstance(detail, str) and detail.startswith("{"):
        with contextlib.suppress(ValueError):
            return json.loads(detail)
    return detail


# --- consent -------------------------------------------------------------------------


def check_consent(
    customer_ids: Iterable[int], decisions: Mapping[int, Any], purpose: str, what: str
) -> None:
    """Every customer processed for ``purpose`` had valid consent at that time.

    ``decisions`` maps customer id to the reference decision (an object with ``allowed``
    and ``reason``, as returned by ``cms.consent.may``).
    """
    refused = []
    for cid in sorted(set(customer_ids)):
        decision = decisions.get(cid)
        if decision is None or not getattr(decision, "allowed", False):
            reason = (getattr(decision, "reason", "") or "no valid consent on record").rstrip(".")
            refused.append(reason if reason.startswith(f"customer {cid} ") else
                           f"customer {cid}: {reason}")
    if refused:
        raise PrincipleViolation(
            "consent",
            f"{_plural(len(refused), 'customer')} in {what} had no valid {purpose} consent",
            refused,
        )


# --- retention -----------------------------------------------------------------------


def check_nothing_overdue(due_items: Sequence[Any]) -> None:
    """Nothing is kept past its retention period (``due_items`` from ``retention.due``)."""
    if due_items:
        raise PrincipleViolation(
            "storage_limitation",
            f"{_plural(len(due_items), 'record')} are kept past their retention period",
            [_describe_due(item) for item in due_items],
        )


def _describe_due(item: Any) -> str:
    get = item.get if isinstance(item, Mapping) else lambda k: getattr(item, k, None)
    table, row, rule = get("table"), get("row_id"), get("rule")
    reason = get("reason") or ""
    text = f"{table} row {row}" + (f" (rule {rule})" if rule else "")
    return f"{text}: {reason}" if reason else text


def check_kept(kept: Mapping[str, Collection[int]], required: Mapping[str, Collection[int]],
               reason: str = "a legal duty requires it") -> None:
    """Rows under a legal retention duty still exist (``table -> ids``)."""
    records = []
    for table, ids in required.items():
        gone = set(ids) - set(kept.get(table, ()))
        records += [f"{table} row {i} was deleted but {reason}" for i in sorted(gone)]
    if records:
        raise PrincipleViolation(
            "legal_retention",
            f"{_plural(len(records), 'record')} under a legal retention duty were deleted",
            records,
        )


# --- transfers -----------------------------------------------------------------------


def check_transfers(findings: Iterable[Any]) -> None:
    """Every destination outside the EEA has a lawful mechanism.

    ``findings`` are the results of ``cms.storage.check_transfers()`` (objects or dicts with
    ``lawful``, ``name``/``location``, ``country`` and ``reason``).
    """
    unlawful = []
    for f in findings:
        get = f.get if isinstance(f, Mapping) else lambda k, f=f: getattr(f, k, None)
        if get("lawful") is False:
            name = get("name") or get("location") or "destination"
            country = get("country") or "?"
            reason = get("reason") or "no adequacy decision, safeguard or derogation"
            unlawful.append(f"{name} in {country}: {reason}")
    if unlawful:
        raise PrincipleViolation(
            "transfers",
            f"{_plural(len(unlawful), 'destination')} outside the EEA lack a lawful basis",
            unlawful,
        )


# --- accountability ------------------------------------------------------------------


def check_audit_intact(result: Any, discrepancies: Sequence[str] = ()) -> None:
    """The audit chain verifies (``result`` from ``cms.audit.verify()``) and matches what
    the grader saw the sandbox write (``discrepancies`` lists entries that do not).

    A learner who deletes an entry and recomputes every hash gets a chain that verifies;
    the grader's own copy of the hashes still tells.
    """
    get = result.get if isinstance(result, Mapping) else lambda k: getattr(result, k, None)
    records = []
    if not get("ok"):
        where = get("first_broken")
        detail = str(get("message") or "the hash chain does not verify")
        detail = detail.removeprefix("audit log broken: ")
        if where is not None and f"entry {where}" not in detail:
            detail = f"entry {where}: {detail}"
        records.append(detail)
    records += list(discrepancies)
    if records:
        raise PrincipleViolation(
            "accountability", "the audit log was changed behind the sandbox's back", records
        )


# --- synthetic only ------------------------------------------------------------------


def check_no_production_values(
    values: Iterable[tuple[str, str]], production: Mapping[str, str]
) -> None:
    """No value of the output comes from the production sandbox.

    ``values`` yields ``(where, value)`` pairs from the learner's output; ``production``
    maps a production value (a canary name, an e-mail) to a plain description of its
    record, e.g. ``"customer 17's e-mail"``.
    """
    leaks = []
    for where, value in values:
        key = value.strip().lower() if isinstance(value, str) else value
        if key in production:
            leaks.append(f"{where} holds {production[key]} ({value!r})")
    if leaks:
        raise PrincipleViolation(
            "synthetic_only",
            f"{_plural(len(leaks), 'value')} in your output come from the production sandbox",
            leaks,
        )
