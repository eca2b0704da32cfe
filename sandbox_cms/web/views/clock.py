"""The time control: move the sandbox clock (it is a training sandbox)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, redirect, render_template, request, url_for

from sandbox_cms.web import inputs
from sandbox_cms.web.sandbox import cms

bp = Blueprint("clock", __name__)
MAX_DAYS = 36_500


@bp.get("/time")
def time():
    return render_template("time.html", now=cms().clock.now())


@bp.post("/time")
def move():
    action = inputs.choice(request.form, "action", ("advance", "set"), required=True)
    clock = cms().clock
    if action == "advance":
        days = inputs.integer(request.form, "days", minimum=1, maximum=MAX_DAYS)
        if days is None:
            abort(400, description="Say how many days to move the clock forward.")
        clock.advance(days=days)
    else:
        day = inputs.date(request.form, "date", required=True)
        clock.set(dt.datetime.combine(day, dt.time(9, 0)))
    return redirect(url_for("clock.time"), code=303)
