"""Module 05 (access requests and portability): what is particular to the module.

The proofs every exercise shares (reference solutions pass both variants, the wrong answers in
tests/fixtures/wrong_answers/m05_*.py fail naming their principle on both, a clean nbgrader
source, points) run in tests/test_exercise_proofs.py. This file proves:

- the setups plant every boundary in both variants: the namesake, the housemate and the
  unconfirmed guest order (05-access-copy); 31 January, a February receipt, a late identity
  check, a notice on the first month's last day and one too late, all on Dutch working days
  (05-on-time); mails from known and unknown addresses about customers and non-customers
  (05-verify-identity);
- the notebook's answer and the shop's "my data" page answer the same request the same way;
- an answer hard-coded to the visible variant fails the hidden test;
- the law cell cites then and now; the source notebook runs clean; nbgrader gives the
  solution full marks and the untouched student version none.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from notebook_tools import (
    cell,
    error_of,
    execute,
    full_marks_and_none,
    load,
    section,
    solution,
    source_notebook,
)

from grading import get_exercise, run
from grading.exercises import m05_access_copy, m05_on_time
from grading.harness import close_attempt, open_variant

ASSIGNMENT = "05-access-requests"
VARIANTS = ["visible", "hidden"]


# --- 05-access-copy -----------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_access_setup_plants_the_namesake_the_housemate_and_the_guest_order(variant) -> None:
    attempt = open_variant(get_exercise("05-access-copy"), variant)
    try:
        ctx = attempt.context
        people = {r["id"]: r for r in attempt.query(
            "SELECT * FROM customers WHERE id IN (?, ?, ?)",
            (ctx["customer_id"], ctx["same_name"], ctx["household"]))}
        me, namesake, housemate = (people[ctx[k]] for k in
                                   ("customer_id", "same_name", "household"))
        assert (namesake["first_name"], namesake["last_name"]) == (me["first_name"],
                                                                   me["last_name"])
        assert namesake["email"] != me["email"] and namesake["street"] != me["street"]
        address = ("street", "house_number", "postcode", "city")
        assert [housemate[k] for k in address] == [me[k] for k in address]
        assert housemate["first_name"] != me["first_name"]
        guest = attempt.query("SELECT customer_id FROM orders WHERE id = ?",
                              (ctx["guest_order"],))
        assert guest == [{"customer_id": None}]
        asked = attempt.query("SELECT customer_id FROM checkout_confirmations"
                              " WHERE order_id = ?", (ctx["guest_order"],))
        assert asked == [{"customer_id": ctx["customer_id"]}]
        rows = attempt.expected["rows"]
        for section in ("orders", "invoices", "consent_events", "mailings_received",
                        "disclosures", "requests"):
            assert rows[section], section
        recipients = attempt.query("SELECT recipient FROM disclosures WHERE customer_id = ?",
                                   (ctx["customer_id"],))
        assert {r["recipient"] for r in recipients} == {"antipiracy-foundation", "mail-service"}
        # the audit log already speaks of her (the checkout's question about the guest order)
        assert attempt.query(m05_access_copy.AUDIT_SQL, (ctx["customer_id"],))
    finally:
        close_attempt(attempt)


def _web_export(db_path, email: str) -> dict:
    """The shop front's answer to the same request: ask, follow the mailed link, confirm."""
    from sandbox_cms.web import create_app

    client = create_app(db_path, config={"TESTING": True}).test_client()

    def token(url: str) -> str:
        page = client.get(url).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    sent = client.post("/my-data", data={"email": email, "kind": "export",
                                         "csrf_token": token("/my-data")})
    assert sent.status_code == 200
    outbox = client.get("/outbox").get_data(as_text=True)
    link = re.search(r'class="confirm-link" href="([^"]+)"', outbox).group(1)
    done = client.post(link, data={"csrf_token": token(link)}).get_data(as_text=True)
    text = re.search(r'<pre class="export">(.*?)</pre>', done, re.S).group(1)
    return json.loads(html.unescape(text))


def test_the_notebook_and_the_my_data_page_answer_the_same_request_the_same_way() -> None:
    attempt = open_variant(get_exercise("05-access-copy"), "visible")
    try:
        email = attempt.context["email"]
        with attempt.cms._internal("dsr_access", "learner") as p:
            answer = solution("05-access-copy")(attempt.cms, p, email)
        attempt.cms.flush()
        page = _web_export(attempt.cms.path, email)
    finally:
        close_attempt(attempt)
    # the same JSON for every data section; the page's request list has its own request too,
    # and its audit trail the entries the two answers wrote
    same = [s for s in m05_access_copy.SECTIONS if s not in ("requests", "audit_trail")]
    answer = json.loads(json.dumps(answer))
    assert m05_access_copy.sections_of(answer, same) == m05_access_copy.sections_of(page, same)
    assert {r["id"] for r in answer["requests"]} < {r["id"] for r in page["requests"]}
    trail = {e["seq"]: e for e in page["audit_trail"]}
    assert answer["audit_trail"] and all(trail[e["seq"]] == e for e in answer["audit_trail"])
    assert attempt.context["guest_order"] not in {o["id"] for o in page["orders"]}


def test_hard_coded_copy_fails_hidden() -> None:
    attempt = open_variant(get_exercise("05-access-copy"), "visible")
    email = attempt.context["email"]
    close_attempt(attempt)
    reference = solution("05-access-copy")

    def hard_coded(cms, p, _email):  # answers for the visible variant's customer
        return reference(cms, p, email)

    assert run("05-access-copy", hard_coded, "visible").passed
    hidden = run("05-access-copy", hard_coded, "hidden")
    assert not hidden.passed, hidden.message


# --- 05-on-time -----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_on_time_plants_every_case_on_working_days(variant) -> None:
    attempt = open_variant(get_exercise("05-on-time"), variant)
    try:
        ctx, now = attempt.context, attempt.cms.clock.now()
        assert set(ctx["requests"]) == set(m05_on_time.FIXED_CASES) | {"complex_in_first_month"}
        extended = {"complex_notified_on_last_day", "complex_in_first_month"}
        for case, (received, _, complex_, _) in ctx["cases"].items():
            day = dt.date.fromisoformat(received[:10])
            for months in (1, 3) if case in extended else (1,):  # every right last day
                due = m05_on_time.add_months(day, months)
                assert m05_on_time.working_day(due), (case, due)
            assert (ctx["requests"][case] in ctx["complex"]) is complex_
        fresh = dt.date.fromisoformat(ctx["cases"]["complex_in_first_month"][0][:10])
        assert fresh < now.date() <= m05_on_time.add_months(fresh, 1)
        over = dt.date.fromisoformat(ctx["cases"]["complex_first_month_over"][0][:10])
        assert m05_on_time.add_months(over, 1) < now.date()
        assert m05_on_time.add_months(dt.date(2025, 1, 31), 1) == dt.date(2025, 2, 28)
        assert m05_on_time.add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
        # the sandbox clock is far from the wall clock: datetime.now() judges wrongly
        assert dt.datetime.now().year > now.year
    finally:
        close_attempt(attempt)


def test_visible_and_hidden_differ_in_ids_and_the_fresh_request() -> None:
    seen = {}
    for variant in VARIANTS:
        attempt = open_variant(get_exercise("05-on-time"), variant)
        seen[variant] = (attempt.context["requests"],
                         attempt.context["cases"]["complex_in_first_month"][0])
        close_attempt(attempt)
    assert seen["visible"][0] != seen["hidden"][0]
    assert seen["visible"][1] != seen["hidden"][1]


def test_hard_coded_deadlines_fail_hidden() -> None:
    outcome = {}

    def record(cms, p, complex_requests):
        outcome.update(solution("05-on-time")(cms, p, complex_requests))
        return outcome

    assert run("05-on-time", record, "visible").passed
    remembered = dict(outcome)
    hidden = run("05-on-time", lambda cms, p, c: dict(remembered), "hidden")
    assert not hidden.passed and hidden.principle in {"task", "response_time"}, hidden.message


def test_a_reminder_of_an_extension_told_in_time_is_no_late_notice() -> None:
    """Writing again to a person told of the extension in time is harmless; a first notice
    after the first month is what fails."""
    reference = solution("05-on-time")

    def with_reminder(cms, p, complex_requests):
        answer = reference(cms, p, complex_requests)
        told = p.query("SELECT o.request_id, o.to_address, o.sent_at, r.customer_id,"
                       " r.requested_at FROM dsr_outbox AS o JOIN dsr_requests AS r"
                       " ON r.id = o.request_id WHERE o.subject LIKE 'Extension:%'")
        for row in told:
            received = dt.date.fromisoformat(row["requested_at"][:10])
            if row["sent_at"][:10] > m05_on_time.add_months(received, 1).isoformat():
                continue  # told too late: that one is no extension, and no reminder either
            p.execute("INSERT INTO dsr_outbox (request_id, to_address, subject, body, sent_at)"
                      " VALUES (?, ?, ?, ?, ?)",
                      (row["request_id"], row["to_address"], "Extension: a reminder",
                       complex_requests[row["request_id"]],
                       cms.clock.now().isoformat(timespec="seconds")),
                      customer_ids=[row["customer_id"]])
        return answer

    for variant in VARIANTS:
        assert run("05-on-time", with_reminder, variant).passed


# --- 05-verify-identity ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_inbox_holds_known_and_unknown_senders_about_customers_and_nobody(variant) -> None:
    attempt = open_variant(get_exercise("05-verify-identity"), variant)
    try:
        known = {r["email"].lower() for r in attempt.query("SELECT email FROM customers")}
        mails = {m["id"]: m for m in attempt.context["inbox"]}
        cases = attempt.context["cases"]
        about_customer = {k for k, c in cases.items() if c["customer_id"] is not None}
        assert about_customer == {"own_address", "own_address_other_case",
                                  "stranger_about_customer", "customer_about_other"}
        for kind, case in cases.items():
            mail = mails[case["mail"]]
            assert (mail["about"].lower() in known) is (kind in about_customer), kind
        capitals = mails[cases["own_address_other_case"]["mail"]]["from"]
        assert capitals != capitals.lower() and capitals.lower() in known
        for a, b in (("stranger_about_customer", "stranger_about_nobody"),
                     ("customer_about_other", "customer_about_nobody")):
            assert mails[cases[a]["mail"]]["from"] == mails[cases[b]["mail"]]["from"]
    finally:
        close_attempt(attempt)


def test_a_reply_that_names_the_sender_or_the_customer_is_still_fair() -> None:
    """Another lawful reply passes: neutral text that quotes the mail's own addresses, and a
    customer asking about someone else told to ask from their own account."""
    reference = solution("05-verify-identity")

    def quoting(cms, p, inbox):
        replies = reference(cms, p, inbox)
        for mail in inbox:
            if replies[mail["id"]]["copy"] is None:
                replies[mail["id"]]["body"] = (
                    f"You ({mail['from']}) asked about {mail['about']}. If that address has an "
                    "account with us, please send the request from it.")
        return replies

    for variant in VARIANTS:
        assert run("05-verify-identity", quoting, variant).passed


# --- the source notebook ---------------------------------------------------------------------


def test_the_law_cell_cites_then_and_now() -> None:
    law = " ".join(section(load(source_notebook(ASSIGNMENT)), "m05-law").split())
    for cited in ("art. 35 Wbp", "Art. 15 GDPR", "15(1)", "15(2)", "Art. 15(3)", "15(4)",
                  "Art. 20", "20(2)", "Art. 12(3)", "1182/71", "Art. 12(5)", "Art. 12(6)",
                  "Art. 19", "01/2022", "Autoriteit Persoonsgegevens", "unverified"):
        assert cited in law, cited


def test_the_source_notebook_runs_clean() -> None:
    """Everything but the hidden tests (which need the instructor's parameters) runs."""
    nb = execute(source_notebook(ASSIGNMENT), allow_errors=True)
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        error = error_of(c)
        if c.id.endswith("-hidden"):
            assert error is None or error.startswith("HiddenVariantUnavailable"), error
        else:
            assert error is None, (c.id, error)


@pytest.mark.slow
@pytest.mark.nbgrader
def test_nbgrader_gives_the_solution_full_marks_and_the_student_version_none(
    tmp_path, monkeypatch
) -> None:
    # four exercises, visible + hidden
    student, text = full_marks_and_none(ASSIGNMENT, tmp_path, monkeypatch,
                                        written="m05-ex5-answer", automatic=8)
    assert "def answer_access_request(cms, p, email):" in text  # the stubs stay
    assert "LEFT JOIN consent_texts" not in text and "neutral = (" not in text  # no solutions
    assert "Rubric" not in cell(student, "m05-ex5-answer").source
