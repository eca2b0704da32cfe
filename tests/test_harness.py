"""The exercise harness on real sandboxes, with the demo exercise 00-newsletter-consent.

Each wrong solution breaks one rule and must fail naming that rule's principle.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3

import pytest

from grading import check, get_exercise, register, run
from grading.checks import PrincipleViolation
from grading.harness import exercises
from grading.selfcheck import PROGRESS_ENV
from sandbox_cms.core.errors import CourseError
from sandbox_cms.privacy import audit


@pytest.fixture(autouse=True)
def _registry_restored():
    """Exercises these tests register (test-loop, ...) leave the registry afterwards, so a
    later test that lists the course's exercises does not find them."""
    from grading import harness

    exercises()  # the course's own exercises loaded before the snapshot
    before = dict(harness._REGISTRY)
    yield
    harness._REGISTRY.clear()
    harness._REGISTRY.update(before)

EX = "00-newsletter-consent"


def send_newsletter(cms):
    with cms.processing("newsletter") as p:
        rows = p.query("SELECT id FROM customers ORDER BY id")
        ids = [r["id"] for r in rows if cms.consent.may(r["id"], "newsletter").allowed]
        p.send_mailing(ids, subject="Spring offers")
    return ids


def mail_everyone(cms):
    with cms.processing("newsletter") as p:
        ids = [r["id"] for r in p.query("SELECT id FROM customers")]
        p.send_mailing(ids, subject="Spring offers")
    return ids


def ignore_withdrawals(cms):
    """Anyone who ever ticked the box: forgets art. 7(3)."""
    with cms.processing("newsletter") as p:
        rows = p.query("SELECT id FROM customers")
        ids = sorted(r["id"] for r in rows if any(
            e.event == "granted" for e in cms.consent.events(r["id"], "newsletter")))
        p.send_mailing(ids, subject="Spring offers")
    return ids


def read_iban_too(cms):
    with cms.processing("newsletter") as p:
        rows = p.query("SELECT id, iban FROM customers ORDER BY id")
        ids = [r["id"] for r in rows if cms.consent.may(r["id"], "newsletter").allowed]
        p.send_mailing(ids, subject="Spring offers")
    return ids


def wrong_purpose(cms):
    with cms.processing("customer_service") as p:
        rows = p.query("SELECT id FROM customers ORDER BY id")
    ids = [r["id"] for r in rows if cms.consent.may(r["id"], "newsletter").allowed]
    with cms.processing("newsletter") as p:
        p.send_mailing(ids, subject="Spring offers")
    return ids


def test_the_correct_solution_passes_both_variants():
    assert run(EX, send_newsletter).passed
    assert run(EX, send_newsletter, variant="hidden").passed


def test_each_run_cleans_up_its_sandbox():
    paths = []

    def remember(cms):
        paths.append(cms.path)
        return send_newsletter(cms)

    assert run(EX, remember).passed
    assert paths and not paths[0].exists() and not paths[0].parent.exists()


@pytest.mark.parametrize(
    ("solution", "principle", "words"),
    [
        (mail_everyone, "consent", "never consented"),
        (ignore_withdrawals, "consent", ""),
        (read_iban_too, "purpose_limitation", "customers.iban"),
        (wrong_purpose, "purpose_limitation", "under purpose 'customer_service'"),
    ],
)
def test_wrong_solutions_fail_naming_the_principle(solution, principle, words):
    outcome = run(EX, solution)
    assert not outcome.passed
    assert outcome.principle == principle, outcome.message
    assert words in outcome.message


def test_ignoring_a_withdrawal_is_named_with_article_7_3():
    outcome = run(EX, ignore_withdrawals)
    assert "withdrew" in outcome.message and "7(3)" in outcome.message or (
        "pre-ticked" in outcome.message
    ), outcome.message


def test_a_hard_coded_answer_passes_visible_and_fails_hidden():
    first = run(EX, send_newsletter)
    assert first.passed
    visible_ids = _eligible_ids(EX, "visible")

    def hard_coded(cms):
        with cms.processing("newsletter") as p:
            p.send_mailing(visible_ids, subject="Spring offers")
        return visible_ids

    assert run(EX, hard_coded).passed
    hidden = run(EX, hard_coded, variant="hidden")
    assert not hidden.passed
    assert hidden.principle in {"consent", "task"}


def _eligible_ids(exercise_id: str, variant: str) -> list[int]:
    from grading.harness import close_attempt, open_variant

    attempt = open_variant(get_exercise(exercise_id), variant)
    try:
        return sorted(attempt.expected["eligible"])
    finally:
        close_attempt(attempt)


@pytest.mark.parametrize(
    ("solution", "words"),
    [
        (lambda cms: None, "you sent 0"),
        ("not a function", "check() needs your function"),
    ],
)
def test_nothing_done_fails_as_the_task(solution, words):
    outcome = run(EX, solution)
    assert outcome.principle == "task" and words in outcome.message


def test_learner_errors_become_messages_with_their_line():
    def not_written(cms):
        raise NotImplementedError()

    def crashes(cms):
        rows = [1, 2]
        return rows[5]

    assert "not written yet" in run(EX, not_written).message
    outcome = run(EX, crashes)
    assert outcome.principle == "task"
    assert "IndexError: list index out of range at line" in outcome.message
    assert "return rows[5]" in outcome.message


def test_a_learner_who_breaks_the_sandbox_gets_a_message_not_a_crash():
    def closes_it(cms):
        ids = send_newsletter(cms)
        cms.close()
        return ids

    def exits(cms):
        raise SystemExit(3)

    outcome = run(EX, closes_it)
    assert outcome.principle == "task" and "could not check your work" in outcome.message
    assert run(EX, exits).principle == "task"
    assert "takes 0 positional arguments" in run(EX, lambda: []).message


def test_returning_the_wrong_type_is_a_clear_message():
    def returns_text(cms):
        ids = send_newsletter(cms)
        return ",".join(map(str, ids))

    outcome = run(EX, returns_text)
    assert outcome.principle == "task"
    assert "should be a list" in outcome.message and "returned str" in outcome.message


def test_an_endless_loop_is_stopped():
    looping = register(dataclasses.replace(get_exercise(EX), id="test-loop", timeout=0.5))

    def forever(cms):
        while True:
            pass

    outcome = run(looping, forever)
    assert outcome.principle == "task"
    assert "stopped after 0.5 s" in outcome.message


def test_a_refusal_in_enforce_mode_names_purpose_limitation():
    strict = register(dataclasses.replace(get_exercise(EX), id="test-enforce", mode="enforce"))
    outcome = run(strict, read_iban_too)
    assert outcome.principle == "purpose_limitation"
    assert "customers.iban" in outcome.message and "5(1)(b)" in outcome.message


def _delete_last_audit_entry(cms):
    ids = send_newsletter(cms)
    cms.flush()
    conn = sqlite3.connect(cms.path)
    with conn:
        conn.execute("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
    conn.close()
    return ids


def _rewrite_whole_log(cms):
    """Hide a violation, then recompute every hash and the head so the chain verifies."""
    ids = read_iban_too(cms)
    cms.flush()
    conn = sqlite3.connect(cms.path)
    with conn:
        conn.execute("DELETE FROM audit_log WHERE action IN ('violation', 'refused')")
        rows = conn.execute(f"SELECT {', '.join(audit.COLUMNS)} FROM audit_log ORDER BY seq")
        prev, seq = audit.GENESIS, 0
        for row in rows.fetchall():
            seq += 1
            fields = (seq, *row[1:9])
            digest = audit.entry_hash(prev, fields)
            conn.execute("UPDATE audit_log SET seq = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                         (seq, prev, digest, row[0]))
            prev = digest
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         [(audit.HEAD_KEY, prev), (audit.COUNT_KEY, str(seq))])
    conn.close()
    assert cms.audit.verify().ok  # the forgery is good enough to fool verify() alone
    return ids


@pytest.mark.parametrize("tamper", [_delete_last_audit_entry, _rewrite_whole_log])
def test_a_rewritten_audit_log_fails_accountability(tamper):
    outcome = run(EX, tamper)
    assert outcome.principle == "accountability", outcome.message
    assert "art. 5(2)" in outcome.message


def test_check_prints_records_progress_and_raises(tmp_path, monkeypatch, capsys):
    progress = tmp_path / "progress.json"
    monkeypatch.setenv(PROGRESS_ENV, str(progress))
    with pytest.raises(PrincipleViolation) as info:
        check(EX, mail_everyone)
    assert isinstance(info.value, AssertionError)
    # a failure prints nothing: the first thing under the cell is the violation itself,
    # which IPython shows as one line and the rule, without the grader's traceback
    assert capsys.readouterr().out == ""
    assert info.value._render_traceback_() == [
        f"PrincipleViolation: {info.value.message}", f"The rule: {info.value.rule}"]
    assert info.value.message.startswith("Consent (art. 6(1)(a) and 7 GDPR): ")
    assert check(EX, send_newsletter) is None  # a value would count as partial credit
    assert capsys.readouterr().out.strip() == f"✓ {EX} (visible): passed"
    assert '"passed": true' in progress.read_text()


def test_a_hidden_failure_names_the_principle_and_kinds_but_no_hidden_data(monkeypatch):
    """check(..., variant="hidden") shows no id, name, e-mail or date of the hidden
    sandbox; run() (for the instructor's tools) keeps the full message."""
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    plain = run(EX, mail_everyone, "hidden").violation
    with pytest.raises(PrincipleViolation) as info:
        check(EX, mail_everyone, variant="hidden", quiet=True)
    shown = info.value.message
    assert shown.startswith("Consent (art. 6(1)(a) and 7 GDPR): ")
    assert "on the hidden scenario" in shown and "customer" in shown
    named = {int(n) for r in plain.records for n in re.findall(r"customer (\d+)", r)}
    assert len(named) >= 3
    assert not re.findall(r"customer \d", shown), shown
    assert not re.search(r"\d{4}-\d{2}-\d{2}|@", shown), shown


def test_unknown_exercise_or_variant_is_a_clear_error():
    with pytest.raises(CourseError, match="unknown exercise 'nope' .*00-newsletter-consent"):
        run("nope", send_newsletter)
    with pytest.raises(CourseError, match="unknown variant 'secret'"):
        run(EX, send_newsletter, variant="secret")


def test_every_registered_exercise_is_well_formed(hidden_variants):
    from grading.hidden import load
    from grading.principles import principles

    drawn = load(hidden_variants)
    for ex in exercises().values():
        if ex.id not in drawn:
            continue  # registered by another test
        assert ex.principles and set(ex.principles) <= set(principles()), ex.id
        assert ex.points > 0 and ex.task and ex.title
        assert ex.hidden.seed is None, f"{ex.id}: the package declares no hidden seed"
        assert ex.variant("visible") != ex.variant("hidden"), f"{ex.id}: the hidden differs"


def test_a_variant_can_fix_the_clock():
    import datetime as dt

    moment = dt.datetime(2025, 6, 1, 9, 30)
    fixed = register(dataclasses.replace(
        get_exercise(EX), id="test-clock", visible=dataclasses.replace(
            get_exercise(EX).visible, now=moment)))
    seen = []

    def note_the_time(cms):
        seen.append(cms.clock.now())
        return send_newsletter(cms)

    assert run(fixed, note_the_time).passed
    assert seen == [moment]
