"""The shop front's checkout: an order with one separate, unticked box per consent purpose."""

from __future__ import annotations

import re

from flask import Blueprint, abort, render_template, request
from werkzeug.exceptions import BadRequest

from sandbox_cms.core.errors import SandboxError
from sandbox_cms.data.shop import (
    CUSTOMER_FIELDS,
    MAX_QUANTITY,
    awaiting_checkout,
    confirm_checkout,
    consent_questions,
    place_order,
    products,
)
from sandbox_cms.web import inputs
from sandbox_cms.web.sandbox import cms

bp = Blueprint("shop", __name__)
LABELS = {
    "first_name": "First name", "last_name": "Last name", "email": "E-mail address",
    "street": "Street", "house_number": "House number", "postcode": "Postcode", "city": "City",
}
MAX_LENGTH = {"house_number": 10, "postcode": 10}


def _form(error: str | None = None, values: dict | None = None, status: int = 200):
    sandbox = cms()
    return render_template(
        "checkout.html", products=products(sandbox), questions=consent_questions(sandbox),
        fields=CUSTOMER_FIELDS, labels=LABELS, max_length=MAX_LENGTH, max_quantity=MAX_QUANTITY,
        error=error, values=values or {}), status


@bp.get("/shop")
def checkout():
    return _form()


@bp.post("/shop")
def place():
    """Place the order; on bad input show the form again (400) with the message and the
    values typed, except the consent boxes: those start unticked again."""
    form = request.form
    kept = {name: form.get(name, "")[:inputs.MAX_TEXT] for name in (*CUSTOMER_FIELDS, "product",
                                                                   "quantity")}
    try:
        customer = {name: inputs.text(form, name, label=LABELS[name],
                                      max_length=MAX_LENGTH.get(name, inputs.MAX_TEXT))
                    for name in CUSTOMER_FIELDS}
        sku = inputs.text(form, "product", max_length=40)
        quantity = inputs.integer(form, "quantity", minimum=1, maximum=MAX_QUANTITY, default=1)
        consents = form.getlist("consent")
        if len(consents) > 20 or any(len(c) > 64 for c in consents):
            abort(400, description="The consent boxes sent do not match the form.")
        receipt = place_order(cms(), customer, sku, quantity, consents)
    except BadRequest as exc:
        return _form(exc.description, kept, 400)
    except SandboxError as exc:
        return _form(str(exc), kept, 400)
    return render_template("receipt.html", receipt=receipt)


TOKEN = "<string(minlength=8, maxlength=64):token>"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@bp.get(f"/shop/confirm/{TOKEN}")
def confirm_form(token: str):
    """The link from the mail to the address holder: a button, never a change by itself."""
    if not _TOKEN_SHAPE.match(token) or not awaiting_checkout(cms(), token):
        abort(404, description="This confirmation link is not valid, expired, or was used.")
    return render_template("shop_confirm.html", token=token)


@bp.post(f"/shop/confirm/{TOKEN}")
def confirm(token: str):
    if not _TOKEN_SHAPE.match(token):
        abort(404, description="This confirmation link is not valid.")
    try:
        receipt = confirm_checkout(cms(), token)
    except SandboxError:
        abort(404, description="This confirmation link is not valid, expired, or was used.")
    return render_template("receipt.html", receipt=receipt, confirmed=True)
