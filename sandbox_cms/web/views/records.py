"""Orders and invoices, each listed under the purpose that needs them."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from sandbox_cms.core.listing import page_rows
from sandbox_cms.web import inputs
from sandbox_cms.web.sandbox import ACTOR, cms

bp = Blueprint("records", __name__)

ORDERS_PURPOSE = "order_fulfilment"
ORDER_COLUMNS = ("id", "customer_id", "ordered_at", "status", "total_cents")
INVOICES_PURPOSE = "invoicing"
INVOICE_COLUMNS = ("id", "number", "issued_at", "order_id", "customer_id", "billing_name",
                   "billing_city", "amount_cents", "vat_cents")


def _keyset() -> tuple[int | None, int | None]:
    after = inputs.integer(request.args, "after")
    before = inputs.integer(request.args, "before")
    if after is not None and before is not None:
        abort(400, description="Use either 'after' or 'before', not both.")
    return after, before


@bp.get("/orders")
def orders():
    after, before = _keyset()
    customer = inputs.integer(request.args, "customer")
    filters = {"customer_id": customer} if customer is not None else {}
    sandbox = cms()
    with sandbox.processing(ORDERS_PURPOSE, actor=ACTOR) as p:
        page = page_rows(p, "orders", ORDER_COLUMNS, filters=filters, after=after, before=before)
    return render_template(
        "orders.html", page=page, customer=customer,
        purpose=sandbox.register.purpose(ORDERS_PURPOSE),
        pager_args={"customer": customer} if customer is not None else {})


@bp.get("/invoices")
def invoices():
    after, before = _keyset()
    number = inputs.text(request.args, "number", max_length=40, required=False)
    customer = inputs.integer(request.args, "customer")
    filters: dict[str, object] = {}
    if number:
        filters["number"] = number
    if customer is not None:
        filters["customer_id"] = customer
    sandbox = cms()
    with sandbox.processing(INVOICES_PURPOSE, actor=ACTOR) as p:
        page = page_rows(p, "invoices", INVOICE_COLUMNS, filters=filters, after=after,
                         before=before)
    args = {k: v for k, v in (("number", number), ("customer", customer)) if v not in ("", None)}
    return render_template("invoices.html", page=page, number=number, customer=customer,
                           purpose=sandbox.register.purpose(INVOICES_PURPOSE), pager_args=args)
