"""The processing register, the storage locations and the audit log."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from sandbox_cms.web import inputs
from sandbox_cms.web.sandbox import cms, verify_audit

bp = Blueprint("policy", __name__)
AUDIT_SHOWN = 200


@bp.get("/register")
def register():
    sandbox = cms()
    return render_template("register.html", purposes=list(sandbox.register.purposes.values()),
                           rules=sandbox.retention.rules())


@bp.get("/storage")
def storage():
    sandbox = cms()
    return render_template("storage.html", locations=sandbox.storage.locations(),
                           transfers=sandbox.storage.check_transfers())


@bp.get("/audit")
def audit():
    sandbox = cms()
    names = sorted(sandbox.register.purposes)
    purpose = inputs.choice(request.args, "purpose", names)
    customer = inputs.integer(request.args, "customer")
    action = inputs.text(request.args, "action", max_length=40, required=False) or None
    entries = sandbox.audit.entries(purpose=purpose, customer_id=customer, action=action,
                                    limit=AUDIT_SHOWN, newest_first=True)
    return render_template(
        "audit.html", entries=entries, shown=AUDIT_SHOWN, total=len(sandbox.audit),
        purposes=names, purpose=purpose, customer=customer, action=action,
        verification=verify_audit(sandbox, full=True))
