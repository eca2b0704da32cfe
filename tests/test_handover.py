"""The handover: an exercise names an internal purpose, the harness opens it through the
sandbox's privileged route and passes it right after ``cms``; internal accesses from any
other context fail naming purpose limitation (art. 5(1)(b))."""

from __future__ import annotations

import dataclasses

import pytest

from grading import run
from grading.harness import _REGISTRY, Exercise, Variant, register
from sandbox_cms.core.errors import PurposeViolation

EX = "zz-handover-test"


def _count_customers(attempt):
    rows = attempt.query("SELECT COUNT(*) AS n FROM customers")
    if attempt.result != rows[0]["n"]:
        from grading.checks import PrincipleViolation

        raise PrincipleViolation("task", f"expected {rows[0]['n']}, got {attempt.result!r}")


@pytest.fixture
def exercise():
    ex = register(Exercise(
        id=EX, title="count customers under dsr_access", principles=("purpose_limitation",),
        task="count", checks=(_count_customers,), handover="dsr_access",
        visible=Variant(customers=40), hidden=Variant(customers=40),
    ))
    yield ex
    _REGISTRY.pop(EX, None)


def count_with_handover(cms, p):
    return len(p.query("SELECT id FROM customers"))


def count_in_with_block(cms, p):
    with p:
        return p.query("SELECT COUNT(*) AS n FROM customers")[0]["n"]


def count_under_own_context(cms, p):
    with cms.processing("dsr_access", actor="dsr") as own:
        return len(own.query("SELECT id, iban FROM customers"))


def count_through_privileged_route(cms, p):
    with cms._internal("dsr_access", "dsr") as own:
        return len(own.query("SELECT id, iban FROM customers"))


def count_as_the_consent_ledger(cms, p):
    with cms._internal("dsr_access", "consent") as own:
        return len(own.query("SELECT id, iban FROM customers"))


def count_and_export(cms, p):
    email = p.query("SELECT email FROM customers ORDER BY id LIMIT 1")[0]["email"]
    cms.dsr.export(email)
    return p.query("SELECT COUNT(*) AS n FROM customers")[0]["n"]


def test_the_handed_over_context_comes_right_after_cms(exercise):
    assert run(EX, count_with_handover).passed
    assert run(EX, count_in_with_block).passed


def count_as_the_desk(cms, p):
    with cms.processing("dsr_access", actor="privacy-desk") as own:
        return len(own.query("SELECT id, iban FROM customers"))


@pytest.mark.parametrize("answer", [count_under_own_context, count_through_privileged_route,
                                    count_and_export, count_as_the_desk,
                                    count_as_the_consent_ledger])
def test_internal_access_from_another_context_fails_naming_5_1_b(exercise, answer):
    outcome = run(EX, answer)
    assert not outcome.passed
    assert outcome.principle == "purpose_limitation", outcome.message
    assert "5(1)(b)" in outcome.message and "handed over" in outcome.message, outcome.message


def test_each_context_has_a_session_in_its_audit_entries(cms):
    with cms._internal("dsr_access", "dsr") as p:
        p.query("SELECT id FROM customers LIMIT 1")
    with cms.processing("newsletter") as q:
        q.query("SELECT email FROM customers LIMIT 1")
    entries = cms.audit.entries()[-2:]
    assert [e.detail["session"] for e in entries] == [p.session, q.session]
    assert p.session != q.session


@pytest.mark.parametrize("actor", ["learner", "dsr", "consent", "somebody", "privacy-desk",
                                   "retention-job"])
def test_learner_code_cannot_open_an_internal_purpose(cms, actor):
    with pytest.raises(PurposeViolation, match=r"5\(1\)\(b\)"), \
            cms.processing("dsr_erasure", actor=actor) as p:
        p.query("SELECT iban FROM customers")


def test_learner_code_cannot_claim_a_mechanism_as_actor(cms):
    with pytest.raises(PurposeViolation, match="one of the CMS's own mechanisms"), \
            cms.processing("newsletter", actor="dsr"):
        pass
    last = cms.audit.entries()[-1]
    assert last.actor == "learner" and last.action == "refused"
    assert last.detail["kinds"] == ["internal_actor"]


def test_the_mechanisms_still_work_through_the_privileged_route(cms):
    email = cms.query("SELECT 1 AS one")  # non-personal
    assert email == [{"one": 1}]
    with cms.processing("newsletter") as p:
        address = p.query("SELECT email FROM customers ORDER BY id LIMIT 1")[0]["email"]
    assert cms.dsr.export(address)["customer"]
    assert cms.retention.due() is not None
    assert isinstance(cms.consent.allowed_customers("newsletter"), set)


def test_a_handover_exercise_is_an_exercise_field():
    assert "handover" in {f.name for f in dataclasses.fields(Exercise)}
