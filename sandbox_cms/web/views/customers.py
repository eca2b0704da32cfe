"""Customers: the paged, searchable list; a record opened under a purpose; the consent ledger."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from sandbox_cms.privacy.customer_record import customer_exists, open_record
from sandbox_cms.privacy.directory import LIST_PURPOSE, MAX_SEARCH, SEARCH_KEYS, list_customers
from sandbox_cms.web import inputs
from sandbox_cms.web.sandbox import ACTOR, cms

bp = Blueprint("customers", __name__)
CUSTOMER_ID = "<int(max=9223372036854775807):customer_id>"


@bp.get("/customers")
def customer_list():
    search = inputs.text(request.args, "q", label="search", max_length=MAX_SEARCH, required=False)
    by = inputs.choice(request.args, "by", tuple(SEARCH_KEYS))
    after = inputs.integer(request.args, "after")
    before = inputs.integer(request.args, "before")
    if after is not None and before is not None:
        abort(400, description="Use either 'after' or 'before', not both.")
    sandbox = cms()
    page = list_customers(sandbox, search=search, by=by, after=after, before=before,
                          actor=ACTOR)
    return render_template(
        "customers.html", page=page, purpose=sandbox.register.purpose(LIST_PURPOSE),
        pager_args={"q": search, "by": page.by} if search else {})


@bp.get(f"/customers/{CUSTOMER_ID}")
def customer_record(customer_id: int):
    sandbox = cms()
    if not customer_exists(sandbox, customer_id):
        abort(404, description=f"There is no customer with id {customer_id}.")
    purposes = [p for p in sandbox.register.purposes.values() if not _internal(p)]
    chosen = inputs.text(request.args, "purpose", max_length=64, required=False)
    if not chosen:
        # No purpose, no personal data: only the question "why are you opening this?".
        return render_template("customer_purpose.html", customer_id=customer_id,
                               purposes=purposes)
    record = open_record(sandbox, customer_id, chosen, actor=ACTOR)
    return render_template("customer_record.html", record=record, purposes=purposes)


@bp.get(f"/customers/{CUSTOMER_ID}/consents")
def consent_ledger(customer_id: int):
    sandbox = cms()
    events = sandbox.consent.events(customer_id)
    purposes = sorted({e.purpose for e in events} | _consent_purposes(sandbox))
    decisions = {name: sandbox.consent.may(customer_id, name) for name in purposes}
    return render_template("consent_ledger.html", customer_id=customer_id, events=events,
                           decisions=decisions)


def _internal(purpose) -> bool:
    return bool(getattr(purpose, "internal", False))


def _consent_purposes(sandbox) -> set[str]:
    return {name for name, p in sandbox.register.purposes.items()
            if "consent" in str(getattr(p, "legal_ground", ""))}
