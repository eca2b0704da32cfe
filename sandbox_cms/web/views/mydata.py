"""The shop front's "my data": ask for an export or erasure, confirm by mail, see the result;
withdraw a consent.

The confirmation mail is simulated: it lands in the outbox page. Following its link shows a
confirmation button (a POST with a CSRF token: a link alone never changes anything); the
request is then carried out and the export or the removed/retained report is shown.
A consent is withdrawn the way it was given, at once: a ticked box per purpose next to the
e-mail address (art. 7(3)); see :func:`sandbox_cms.data.shop.withdraw_consents`.
"""

from __future__ import annotations

import contextlib
import json
import re

from flask import Blueprint, abort, render_template, request
from werkzeug.exceptions import BadRequest

from sandbox_cms.core.errors import SandboxError, UnknownCustomer
from sandbox_cms.data.shop import checkout_mails, consent_questions, withdraw_consents
from sandbox_cms.privacy.dsr import KINDS
from sandbox_cms.web import inputs
from sandbox_cms.web.sandbox import cms

bp = Blueprint("mydata", __name__)
TOKEN = "<string(minlength=8, maxlength=64):token>"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_LINK = re.compile(r"/my-data/confirm/([A-Za-z0-9_-]{8,64})")
OUTBOX_SHOWN = 100


MAX_PURPOSES = 20


def _form(error: str | None = None, status: int = 200):
    return render_template("my_data.html", questions=consent_questions(cms()),
                           withdraw_error=error), status


@bp.get("/my-data")
def request_form():
    return _form()


@bp.post("/my-data/withdraw")
def withdraw():
    """Withdraw the ticked consents; the same answer whether or not the address is known."""
    try:
        email = inputs.text(request.form, "email", label="e-mail address", max_length=254)
        purposes = request.form.getlist("purpose")
        if len(purposes) > MAX_PURPOSES or any(len(p) > 64 for p in purposes):
            abort(400, description="The consent boxes sent do not match the form.")
        withdraw_consents(cms(), email, purposes)
    except BadRequest as exc:
        return _form(exc.description, 400)
    except SandboxError as exc:
        return _form(str(exc), 400)
    titles = {q.purpose: q.title for q in consent_questions(cms())}
    return render_template("my_data_withdrawn.html", titles=[titles[p] for p in
                                                            dict.fromkeys(purposes)],
                           now=cms().clock.now())


@bp.post("/my-data")
def make_request():
    email = inputs.text(request.form, "email", label="e-mail address", max_length=254)
    kind = inputs.choice(request.form, "kind", KINDS, required=True)
    # The same answer either way: the page must not reveal who is a customer.
    with contextlib.suppress(UnknownCustomer):
        cms().dsr.request(kind, email)
    return render_template("my_data_sent.html", kind=kind)


@bp.get("/outbox")
def outbox():
    mails = cms().dsr.outbox()[:OUTBOX_SHOWN]
    links = {mail.id: match.group(1) for mail in mails if (match := _LINK.search(mail.body))}
    return render_template("outbox.html", mails=mails, links=links,
                           checkout_mails=checkout_mails(cms())[:OUTBOX_SHOWN])


@bp.get(f"/my-data/confirm/{TOKEN}")
def confirm_form(token: str):
    _check_token(token)
    if not cms().dsr.awaiting(token):
        abort(404, description="This confirmation link is not valid, or it was used already.")
    return render_template("my_data_confirm.html", token=token)


@bp.post(f"/my-data/confirm/{TOKEN}")
def confirm(token: str):
    _check_token(token)
    sandbox = cms()
    request_id = sandbox.dsr.confirm(token)
    result = sandbox.dsr.carry_out(request_id)
    if isinstance(result, dict):
        return render_template("my_data_export.html", request_id=request_id,
                               export=json.dumps(result, indent=2, ensure_ascii=False,
                                                 default=str))
    return render_template("my_data_erased.html", request_id=request_id, report=result)


def _check_token(token: str) -> None:
    if not _TOKEN_SHAPE.match(token):
        abort(404, description="This confirmation link is not valid: check the mail.")
