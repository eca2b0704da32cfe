"""Data-subject requests: access (art. 15) and erasure (art. 17), direct or confirmed by mail.

Directly, for the controller (Python, CLI): ``export(email)`` returns everything the sandbox
holds about the person as a JSON-serialisable dict; ``erase(email)`` erases them (see
:mod:`sandbox_cms.privacy.erasure`) and returns the report of what was removed and what was kept.

As a request by the person (the web app's "my data" page): ``request(kind, email)`` stores the
request and "mails" a confirmation code to the address on file (the ``dsr_outbox`` table
simulates the mail); ``confirm(token)`` marks it confirmed; ``carry_out(request_id)`` runs it.
Only the address on file receives the code, so nobody gets someone else's data by typing
their address. Requests never store the e-mail address itself; after an erasure, the request
is unlinked from the (deleted) customer and its mails lose their address.

Every erasure is also written to the erasure ledger beside the database (ids and times only,
:func:`sandbox_cms.privacy.erasure.record_erasures`), and the write-ahead log is emptied once it has
committed; after a restore, :meth:`DataSubjectRequests.reapply_erasures` erases again whoever
a backup made before the erasure brought back.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from sandbox_cms.core.errors import RequestError, UnknownCustomer, UnknownToken
from sandbox_cms.core.moments import add_days, to_iso
from sandbox_cms.core.scope import transaction
from sandbox_cms.privacy.erasure import (
    ErasureReport,
    LedgerEntry,
    ProcessingDb,
    erase_customers,
    leave_no_copy,
    overwrite_deleted_content,
    read_ledger,
    record_erasures,
)
from sandbox_cms.privacy.host import SandboxHost

ACCESS_PURPOSE = "dsr_access"
ERASURE_PURPOSE = "dsr_erasure"
KINDS = ("export", "erase")
CONFIRM_WITHIN_DAYS = 7
EXPORT_FORMAT = "sandbox-cms personal data export, version 1"
_SUBJECT = {"export": "a copy of your personal data", "erase": "erasure of your personal data"}


@dataclass(frozen=True)
class Request:
    """One data-subject request (no e-mail address: that lives only on the customer)."""

    id: int
    kind: str
    customer_id: int | None
    status: str  # awaiting_confirmation, confirmed, completed, expired
    requested_at: str
    confirmed_at: str | None
    completed_at: str | None
    report: dict[str, Any] | None


@dataclass(frozen=True)
class OutgoingMail:
    """A simulated mail of the request flow; ``to_address`` is None once erased."""

    id: int
    request_id: int
    to_address: str | None
    subject: str
    body: str
    sent_at: str


class DataSubjectRequests:
    """``cms.dsr``: access and erasure requests."""

    def __init__(self, sandbox: SandboxHost) -> None:
        self._cms = sandbox
        self._pending_ledger: list[LedgerEntry] = []  # erased in the open transaction

    # -- direct use by the controller -----------------------------------------------------

    def export(self, email: str) -> dict[str, Any]:
        """Everything held about the customer with this e-mail address (art. 15, 20)."""
        with self._cms._internal(ACCESS_PURPOSE, "dsr") as p:
            customer_id = self._customer_id(p, email)
            data = self._collect(p, customer_id)
        self._log("export", customer_id, {"sections": sorted(k for k in data if k != "format")})
        return data

    def erase(self, email: str) -> ErasureReport:
        """Erase the customer with this e-mail address now; record and return the report."""
        now = self._now()
        self._pending_ledger = []  # only what this erasure commits goes into the ledger
        with self._cms._internal(ERASURE_PURPOSE, "dsr") as p, transaction(p.connection):
            customer_id = self._customer_id(p, email)
            request_id = ProcessingDb(p).insert("dsr_requests", {
                "kind": "erase", "customer_id": customer_id, "token": "direct",
                "status": "confirmed", "requested_at": now, "confirmed_at": now,
            })
            report = self._erase(p, request_id, customer_id, now)
        self._settle()
        return report

    # -- the request flow -----------------------------------------------------------------

    def request(self, kind: str, email: str) -> str:
        """Register a request and mail a confirmation code to the address on file; return it."""
        if kind not in KINDS:
            raise RequestError(f"a request is 'export' or 'erase', not {kind!r}")
        now = self._now()
        token = secrets.token_urlsafe(16)
        with self._cms._internal(ACCESS_PURPOSE, "dsr") as p, transaction(p.connection):
            customer_id = self._customer_id(p, email)
            address = p.query("SELECT email FROM customers WHERE id = ?",
                              (customer_id,))[0]["email"]
            request_id = ProcessingDb(p).insert("dsr_requests", {
                "kind": kind, "customer_id": customer_id, "token": token,
                "status": "awaiting_confirmation", "requested_at": now,
            })
            ProcessingDb(p).insert("dsr_outbox", {
                "request_id": request_id, "to_address": address, "sent_at": now,
                "subject": f"Please confirm your request for {_SUBJECT[kind]}",
                "body": (
                    f"Someone asked for {_SUBJECT[kind]} held by this shop. If that was you, "
                    f"confirm within {CONFIRM_WITHIN_DAYS} days with this code: {token} "
                    f"(or open /my-data/confirm/{token}). If it was not you, ignore this mail: "
                    "nothing will happen."),
            })
        return token

    def awaiting(self, token: str) -> bool:
        """True when a request with this mailed code still awaits confirmation."""
        with self._cms._internal(ACCESS_PURPOSE, "dsr") as p:
            rows = p.query("SELECT 1 FROM dsr_requests WHERE token = ? AND token != 'direct'"
                           " AND status = 'awaiting_confirmation'", (str(token),))
        return bool(rows)

    def confirm(self, token: str) -> int:
        """Confirm a request by the code that was mailed; return the request id."""
        now = self._now()
        with self._cms._internal(ACCESS_PURPOSE, "dsr") as p, transaction(p.connection):
            rows = p.query("SELECT id, status, requested_at FROM dsr_requests "
                           "WHERE token = ? AND token != 'direct'", (str(token),))
            if not rows:
                raise UnknownToken("unknown confirmation code: check the link in the mail")
            request = rows[0]
            if request["status"] != "awaiting_confirmation":
                raise RequestError(f"request {request['id']} is already {request['status']}")
            deadline = add_days(request["requested_at"], CONFIRM_WITHIN_DAYS)
            expired = now > deadline
            p.execute("UPDATE dsr_requests SET status = ?, confirmed_at = ? WHERE id = ?",
                      ("expired" if expired else "confirmed", None if expired else now,
                       request["id"]))
        if expired:  # raised after the commit, so the request stays marked as expired
            raise RequestError(
                f"the confirmation code expired on {deadline[:10]}: please ask again")
        return request["id"]

    def carry_out(self, request_id: int) -> dict[str, Any] | ErasureReport:
        """Run a confirmed request: the export (a dict) or the erasure (its report)."""
        request = self.get(request_id)
        if request.status != "confirmed":
            raise RequestError(
                f"request {request_id} is {request.status.replace('_', ' ')}: only a confirmed "
                "request can be carried out")
        if request.customer_id is None:
            raise RequestError(f"request {request_id} no longer points to a customer")
        now = self._now()
        if request.kind == "export":
            with self._cms._internal(ACCESS_PURPOSE, "dsr") as p, transaction(p.connection):
                data = self._collect(p, request.customer_id)
                self._mail_done(p, request_id, request.customer_id, "export", now)
                p.execute("UPDATE dsr_requests SET status = 'completed', completed_at = ?, "
                          "report = ? WHERE id = ?",
                          (now, json.dumps(_export_summary(data)), request_id))
            self._log("export", request.customer_id, {"request": request_id})
            return data
        self._pending_ledger = []
        with self._cms._internal(ERASURE_PURPOSE, "dsr") as p, transaction(p.connection):
            self._mail_done(p, request_id, request.customer_id, "erase", now)
            report = self._erase(p, request_id, request.customer_id, now)
        self._settle()
        return report

    # -- after a restore ------------------------------------------------------------------

    def reapply_erasures(self) -> list[Reerasure]:
        """Erase again every customer of the erasure ledger that a restore brought back.

        A backup made before an erasure still holds the person; restoring it must not undo
        the erasure (art. 17, 5(1)(e)). The ledger (:func:`sandbox_cms.privacy.erasure.ledger_path`,
        beside the database, which a restore does not replace) names each erased account by
        id and opening time; each one found again is erased as it was, with the invoice
        decisions of the original moment or later, and its request is on record again as
        completed. Returns what was re-erased (empty when nothing came back).
        """
        entries: dict[int, LedgerEntry] = {}
        for entry in read_ledger(self._cms.path):
            entries.setdefault(entry.customer_id, entry)
        if not entries:
            return []
        ids = sorted(entries)
        with self._cms._internal(ERASURE_PURPOSE, "dsr") as p:
            found = []
            for start in range(0, len(ids), 400):
                chunk = ids[start:start + 400]
                found += p.query(f"SELECT id, created_at FROM customers WHERE id IN "
                                 f"({', '.join('?' * len(chunk))})", chunk)
        back = [entries[r["id"]] for r in found
                if entries[r["id"]].created_at in (None, r["created_at"])]
        if not back:
            return []
        now = self._now()
        done = []
        with self._cms._internal(ERASURE_PURPOSE, "dsr") as p, transaction(p.connection):
            overwrite_deleted_content(p.connection)
            for entry in back:
                at = max(now, entry.at)
                report = erase_customers(ProcessingDb(p), [entry.customer_id], at,
                                         self._cms.retention.invoice_rule())
                request_id = self._request_on_record(p, entry, report)
                done.append(Reerasure(entry.customer_id, entry.at, request_id, report))
            self._cms.audit.append(
                actor="dsr", purpose=ERASURE_PURPOSE, action="erase_reapplied",
                table="customers", row_ids=[e.customer_id for e in back], detail={
                    "reason": "a restored backup held customers erased after it was made",
                    "article": "17; 5(1)(e)", "requests": [d.request_id for d in done]})
        leave_no_copy(self._cms.connection)
        return done

    @staticmethod
    def _request_on_record(p: Any, entry: LedgerEntry, report: ErasureReport) -> int | None:
        """The erasure request of a ledger entry, completed again in the restored copy."""
        if entry.request_id is None:
            return None
        values = (entry.at, entry.at, json.dumps(report.to_dict()), entry.request_id)
        if p.query("SELECT 1 FROM dsr_requests WHERE id = ?", (entry.request_id,)):
            p.execute("UPDATE dsr_requests SET kind = 'erase', status = 'completed', "
                      "customer_id = NULL, confirmed_at = COALESCE(confirmed_at, ?), "
                      "completed_at = ?, report = ? WHERE id = ?", values)
        else:
            ProcessingDb(p).insert("dsr_requests", {
                "id": entry.request_id, "kind": "erase", "customer_id": None,
                "token": "ledger", "status": "completed", "requested_at": entry.at,
                "confirmed_at": entry.at, "completed_at": entry.at,
                "report": json.dumps(report.to_dict())})
        return entry.request_id

    def get(self, request_id: int) -> Request:
        """One request by id."""
        found = self.requests(request_id=request_id)
        if not found:
            raise RequestError(f"no request with id {request_id}")
        return found[0]

    def requests(self, request_id: int | None = None) -> list[Request]:
        """All requests (newest first), or the one with ``request_id``."""
        sql = ("SELECT id, kind, customer_id, status, requested_at, confirmed_at, completed_at, "
               "report FROM dsr_requests")
        params: tuple = ()
        if request_id is not None:
            sql, params = sql + " WHERE id = ?", (request_id,)
        with self._cms._internal(ACCESS_PURPOSE, "dsr") as p:
            rows = p.query(sql + " ORDER BY id DESC", params)
        return [Request(**{**r, "report": json.loads(r["report"]) if r["report"] else None})
                for r in rows]

    def outbox(self, request_id: int | None = None) -> list[OutgoingMail]:
        """The simulated outgoing mails (newest first), optionally of one request."""
        sql = "SELECT id, request_id, to_address, subject, body, sent_at FROM dsr_outbox"
        params: tuple = ()
        if request_id is not None:
            sql, params = sql + " WHERE request_id = ?", (request_id,)
        with self._cms._internal(ACCESS_PURPOSE, "dsr") as p:
            rows = p.query(sql + " ORDER BY id DESC", params)
        return [OutgoingMail(**r) for r in rows]

    # -- helpers --------------------------------------------------------------------------

    def _now(self) -> str:
        return to_iso(self._cms.clock.now())

    @staticmethod
    def _customer_id(p: Any, email: str) -> int:
        address = email.strip() if isinstance(email, str) else ""
        rows = p.query("SELECT id FROM customers WHERE email = ?", (address,))
        if not rows and address != address.lower():  # exact first: that uses the index
            rows = p.query("SELECT id FROM customers WHERE email = ?", (address.lower(),))
        if not address or not rows:
            raise UnknownCustomer("no customer with that e-mail address: nothing was changed")
        return rows[0]["id"]

    def _settle(self) -> None:
        """After the erasure committed: record it in the ledger (ids and times only) and
        empty the write-ahead log of older page images."""
        record_erasures(self._cms.path, self._pending_ledger)
        self._pending_ledger = []
        leave_no_copy(self._cms.connection)

    def _erase(self, p: Any, request_id: int, customer_id: int, now: str) -> ErasureReport:
        overwrite_deleted_content(p.connection)
        opened = p.query("SELECT created_at FROM customers WHERE id = ?", (customer_id,))
        self._pending_ledger = [*self._pending_ledger, LedgerEntry(
            customer_id, now, request_id, opened[0]["created_at"] if opened else None)]
        report = erase_customers(ProcessingDb(p), [customer_id], now,
                                 self._cms.retention.invoice_rule())
        p.execute("UPDATE dsr_requests SET status = 'completed', completed_at = ?, report = ?, "
                  "customer_id = NULL WHERE id = ?",
                  (now, json.dumps(report.to_dict()), request_id))
        self._cms.audit.append(
            actor="dsr", purpose=ERASURE_PURPOSE, action="erase", table="customers",
            row_ids=[customer_id], detail={
            "request": request_id, "removed": len(report.removed),
            "retained": len(report.retained), "notify": report.notify})
        return report

    @staticmethod
    def _mail_done(p: Any, request_id: int, customer_id: int, kind: str, now: str) -> None:
        address = p.query("SELECT email FROM customers WHERE id = ?", (customer_id,))
        body = ("Your request is done. " + (
            "Your data is attached as a JSON file." if kind == "export" else
            "We removed your personal data. Invoices we must keep by law stay, with only the "
            "details the law needs, and go when the legal period ends. This mail's address is "
            "removed from our records once it has been sent."))
        ProcessingDb(p).insert("dsr_outbox", {
            "request_id": request_id, "to_address": address[0]["email"] if address else None,
            "subject": f"Your request for {_SUBJECT[kind]} is done", "body": body,
            "sent_at": now,
        })

    def _log(self, action: str, customer_id: int, detail: dict[str, Any]) -> None:
        self._cms.audit.append(actor="dsr", purpose=ACCESS_PURPOSE, action=action,
                               table="customers", row_ids=[customer_id], detail=detail)

    def _collect(self, p: Any, customer_id: int) -> dict[str, Any]:
        def rows(sql: str, params: tuple = (customer_id,)) -> list[dict[str, Any]]:
            return p.query(sql, params)

        customer = rows("SELECT * FROM customers WHERE id = ?")[0]
        provenance = customer.pop("provenance_id", None)
        source = p.query("SELECT source, scenario, detail FROM provenance WHERE id = ?",
                         (provenance,))
        orders = rows("SELECT id, ordered_at, status, total_cents FROM orders "
                      "WHERE customer_id = ? ORDER BY ordered_at, id")
        items: dict[int, list[dict[str, Any]]] = {}
        if orders:
            ids = [o["id"] for o in orders]
            for item in p.query(
                f"SELECT i.order_id, i.quantity, i.unit_price_cents, pr.sku, "
                f"pr.name AS product FROM order_items AS i JOIN products AS pr "
                f"ON pr.id = i.product_id WHERE i.order_id IN ({', '.join('?' * len(ids))}) "
                f"ORDER BY i.id", ids):
                items.setdefault(item.pop("order_id"), []).append(item)
        for order in orders:
            order["items"] = items.get(order["id"], [])
        mailings = rows("SELECT m.id, m.purpose, m.subject, m.sent_at FROM mailing_recipients "
                        "AS r JOIN mailings AS m ON m.id = r.mailing_id WHERE r.customer_id = ? "
                        "ORDER BY m.sent_at, m.id")
        disclosures = rows("SELECT id, recipient, purpose, columns, at FROM disclosures "
                           "WHERE customer_id = ? ORDER BY at, id")
        for d in disclosures:
            d["columns"] = json.loads(d["columns"])
        requests = rows("SELECT id, kind, status, requested_at, confirmed_at, completed_at "
                        "FROM dsr_requests WHERE customer_id = ? ORDER BY id")
        audit = [
            {"seq": e.seq, "at": e.at, "actor": e.actor, "purpose": e.purpose,
             "action": e.action, "table": e.table, "columns": list(e.columns)}
            for e in self._cms.audit.entries(customer_id=customer_id)
        ]
        return {
            "format": EXPORT_FORMAT,
            "generated_at": self._now(),
            "customer": customer,
            "source": source[0] if source else None,  # where the data came from, 15(1)(g)
            "orders": orders,
            "invoices": rows("SELECT id, number, order_id, issued_at, billing_name, "
                             "billing_street, billing_postcode, billing_city, amount_cents, "
                             "vat_cents FROM invoices WHERE customer_id = ? "
                             "ORDER BY issued_at, id"),
            "consent_events": rows(
                "SELECT e.id, e.purpose, e.event, e.at, e.text_version, t.text AS text_shown, "
                "e.method, e.channel FROM consent_events AS e LEFT JOIN consent_texts AS t "
                "ON t.purpose = e.purpose AND t.version = e.text_version "
                "WHERE e.customer_id = ? ORDER BY e.at, e.id"),
            "mailings_received": mailings,
            "disclosures": disclosures,
            "requests": requests,
            "audit_trail": audit,
            "purposes": p.query("SELECT name, title, legal_ground, article, retention "
                                "FROM purposes ORDER BY name"),
            "retention_rules": p.query("SELECT name, category, period_days, period_years, "
                                       "counted_from, financial_year_end, runs_from, action, "
                                       "legal_reason FROM retention_rules ORDER BY name"),
            "storage_locations": [
                {**loc, "categories": json.loads(loc["categories"])}
                for loc in p.query("SELECT name, kind, country, region, categories, "
                                   "transfer_mechanism FROM storage_locations ORDER BY name")
            ],
        }


@dataclass(frozen=True)
class Reerasure:
    """A customer a restore brought back and the ledger erased again (ids and times only)."""

    customer_id: int
    erased_at: str
    request_id: int | None
    report: ErasureReport


def _export_summary(data: dict[str, Any]) -> dict[str, Any]:
    """What a completed export request records: counts per section, no values."""
    return {key: len(value) for key, value in data.items() if isinstance(value, list)}
