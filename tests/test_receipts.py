"""Receipts: what a test cell's check() leaves for the grading process, and its re-check.

The re-check must agree with the kernel's own verdict for every honest answer (a reference
solution that passes in the kernel passes the re-check: no false zeros), and a pass the
kernel reports without an honest receipt is a forged grade for that cell only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict, namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest
from notebook_tools import EXERCISES, solution, wrong_answers

from grading import receipts
from grading.checks import PrincipleViolation
from grading.receipts import (
    FORGED,
    UNCONFIRMED,
    Unstored,
    called_check,
    cell_verdict,
    decode,
    encode,
    read_receipts,
    recheck,
    run_with_receipt,
    unstored,
)

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
EXERCISE = "00-newsletter-consent"
TEST_CELL = f'from grading import check\n\ncheck("{EXERCISE}", send_newsletter)'


def _fixture(name: str):
    namespace: dict = {}
    exec((FIXTURES / f"{name}.py").read_text(), namespace)  # noqa: S102 - our own fixture
    return namespace["send_newsletter"]


def _receipts(tmp_path: Path, exercise_id: str, fn, variant: str = "visible"):
    folder = tmp_path / f"receipts-{variant}"
    folder.mkdir(parents=True, exist_ok=True)
    outcome = run_with_receipt(exercise_id, fn, variant, folder)
    return outcome, read_receipts(sorted(folder.iterdir()))


Row = namedtuple("Row", "id email")


@pytest.mark.parametrize("value", [
    None, True, 3, 2.5, "x", [1, 2], (1, "a"), {3, 1}, frozenset({2}),
    {1: "a", "k": [1, {2, 3}]}, Path("/tmp/backup.db"), b"\x00\x01",
    dt.datetime(2026, 9, 15, 12, 0), dt.date(2026, 1, 1), Row(1, "a@example.org"),
])
def test_a_returned_value_survives_the_receipt(value):
    assert decode(json.loads(json.dumps(encode(value)))) == value
    assert type(decode(json.loads(json.dumps(encode(value))))) in (type(value), Row) or \
        isinstance(value, tuple)


def test_subclasses_become_their_base_kind_and_unknown_objects_fail_every_check():
    assert decode(encode(defaultdict(set, {1: {2}}))) == {1: {2}}
    assert decode(encode(Counter("aab"))) == {"a": 2, "b": 1}
    assert decode(encode(SimpleNamespace(allowed=True, ids={1}))) == SimpleNamespace(
        allowed=True, ids={1})
    stored = decode(encode([1, {"x": object()}]))
    assert isinstance(stored[1]["x"], Unstored) and stored[1]["x"] != object()
    assert unstored(encode([1, {"x": object()}])) == ["object"]
    assert unstored(encode({"a": [1, (2, 3)]})) == []


def test_an_unstorable_result_is_not_called_forged(tmp_path):
    """A correct-looking pass the grader cannot re-check for want of the value is named as
    such, not as a forgery."""
    def odd(cms):
        _fixture("correct")(cms)
        return object()

    _, found = _receipts(tmp_path, EXERCISE, odd)
    found[0].data["passed"] = True  # as if the kernel's checks had accepted the object
    violation = cell_verdict(TEST_CELL, True, found)
    assert FORGED not in violation.message and "returned an object" in violation.message
    assert UNCONFIRMED in violation.message


def test_the_graders_own_trouble_is_not_called_forged(tmp_path, monkeypatch):
    _, found = _receipts(tmp_path, EXERCISE, _fixture("correct"))

    def broken(receipt):
        raise OSError("disk full")

    monkeypatch.setattr(receipts, "recheck", broken)
    violation = cell_verdict(TEST_CELL, True, found)
    assert FORGED not in violation.message and UNCONFIRMED in violation.message
    assert "OSError: disk full" in violation.message


@pytest.mark.parametrize("source, called", [
    (TEST_CELL, (EXERCISE, "visible")),
    ('### BEGIN HIDDEN TESTS\ncheck("01-x", f, variant="hidden")\n### END HIDDEN TESTS',
     ("01-x", "hidden")),
    ("import grading\ngrading.check('02-x', f, 'hidden')", ("02-x", "hidden")),
    ("assert True", None),
    ("def broken(:", None),
])
def test_the_exercise_and_variant_a_test_cell_grades(source, called):
    assert called_check(source) == called


def test_an_honest_pass_stands(tmp_path):
    outcome, found = _receipts(tmp_path, EXERCISE, _fixture("correct"))
    assert outcome.passed and len(found) == 1
    assert (found[0].folder / "sandbox.db").is_file()  # the attempt's folder is kept
    assert cell_verdict(TEST_CELL, True, found) is None


def test_a_pass_without_a_receipt_is_forged():
    violation = cell_verdict(TEST_CELL, True, [])
    assert violation is not None and violation.principle == "task"
    assert FORGED in violation.message and "left no receipt" in violation.message


def test_a_pass_whose_receipt_failed_is_forged(tmp_path):
    outcome, found = _receipts(tmp_path, EXERCISE, _fixture("mail_everyone"))
    assert not outcome.passed
    violation = cell_verdict(TEST_CELL, True, found)
    assert FORGED in violation.message and "Consent (art. 6(1)(a) and 7 GDPR)" in \
        violation.message
    # the same cell failing in the kernel is an honest failure: left as it is
    assert cell_verdict(TEST_CELL, False, found) is None


def test_a_receipt_for_another_exercise_or_variant_does_not_count(tmp_path):
    _, found = _receipts(tmp_path, EXERCISE, _fixture("correct"))
    hidden_cell = f'check("{EXERCISE}", send_newsletter, variant="hidden")'
    assert "left no receipt" in cell_verdict(hidden_cell, True, found).message


def test_a_receipt_that_claims_a_pass_is_rechecked(tmp_path, monkeypatch):
    """The kernel's receipt says passed (its checks were patched); the grader's own
    re-check of the sandbox fails it."""
    real = receipts.write_receipt
    monkeypatch.setattr(receipts, "write_receipt", lambda attempt, violation: real(attempt, None))
    outcome, found = _receipts(tmp_path, EXERCISE, _fixture("mail_everyone"))
    assert found[0].data["passed"] is True
    violation = cell_verdict(TEST_CELL, True, found)
    assert FORGED in violation.message and "re-check" in violation.message
    assert "Consent (art. 6(1)(a) and 7 GDPR)" in violation.message


def test_a_hand_written_receipt_is_forged(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "receipt.json").write_text(json.dumps({
        "version": 1, "exercise": EXERCISE, "variant": "visible", "passed": True,
        "message": None, "audit_from": 1, "result": [1, 2], "noted": {}}))
    violation = cell_verdict(TEST_CELL, True, read_receipts([fake]))
    assert FORGED in violation.message and "sandbox is gone" in violation.message


def test_a_sandbox_from_elsewhere_is_refused(tmp_path):
    """The receipt's sandbox must be the one the grader prepares for that variant."""
    _, found = _receipts(tmp_path / "a", EXERCISE, _fixture("correct"))
    _, other = _receipts(tmp_path / "b", "04-retention-job", lambda cms, *args: {})
    (found[0].folder / "sandbox.db").write_bytes((other[0].folder / "sandbox.db").read_bytes())
    violation = recheck(found[0])
    assert violation is not None and "not the one the grader prepared" in violation.message


def test_a_hidden_forgery_names_no_hidden_data(tmp_path, monkeypatch):
    real = receipts.write_receipt
    monkeypatch.setattr(receipts, "write_receipt", lambda attempt, violation: real(attempt, None))
    outcome, found = _receipts(tmp_path, EXERCISE, _fixture("mail_everyone"), "hidden")
    assert outcome.violation.records  # the plain violation names customers
    cell = f'check("{EXERCISE}", send_newsletter, variant="hidden")'
    message = cell_verdict(cell, True, found).message
    assert "on the hidden scenario" in message
    for record in outcome.violation.records[:5]:
        assert record.split(":")[0] not in message  # e.g. "customer 3"
    # a swallowed hidden failure quotes the kernel's message: redacted too
    monkeypatch.setattr(receipts, "write_receipt", real)
    _, found = _receipts(tmp_path / "swallowed", EXERCISE, _fixture("mail_everyone"), "hidden")
    message = cell_verdict(cell, True, found).message
    assert "check() failed" in message and "on the hidden scenario" in message
    for record in outcome.violation.records[:5]:
        assert record.split(":")[0] not in message


REFERENCE_CASES = [pytest.param(e, v, id=f"{e}:{v}") for e in EXERCISES
                   for v in ("visible", "hidden")]


@pytest.mark.slow
@pytest.mark.parametrize(("exercise_id", "variant"), REFERENCE_CASES)
def test_the_recheck_agrees_with_the_kernel_on_every_reference_solution(
        tmp_path, exercise_id, variant):
    """No false zeros: what passes in the kernel passes the grader's re-check (and what
    fails there fails here, naming the same principle)."""
    outcome, [receipt] = _receipts(tmp_path, exercise_id, solution(exercise_id), variant)
    again = recheck(receipt)
    assert (again is None) == outcome.passed, (outcome.message, again)
    if again is not None:
        assert again.principle == outcome.principle


WRONG_CASES = [
    pytest.param(exercise_id, fn, id=f"{exercise_id}:{fn.__name__}")
    for exercise_id, (_, _, _, module) in EXERCISES.items()
    for fn, _, _ in wrong_answers(module).WRONG_ANSWERS
]


KERNEL_ONLY = {
    # Wrong answers the harness catches by what it saw while they ran in the kernel, not by
    # their effects: a call to the grader's reference (a counter in the kernel's modules)
    # or a key written in the learner's source. The grading process cannot see that again;
    # the receipt's own verdict fails them (docs/instructor.md, threat model).
    "01-minimal-extract:key_in_the_code", "01-minimal-extract:salted_with_a_literal",
    "02-transfer-plan:ask_the_grader", "02-transfer-plan:ask_the_sandbox",
    "03-consent-forms:ask_the_grader", "04-erasure-request:use_the_routine",
}


@pytest.mark.slow
@pytest.mark.parametrize(("exercise_id", "fn"), WRONG_CASES)
def test_the_recheck_fails_every_wrong_answer_as_the_kernel_does(tmp_path, exercise_id, fn):
    """A wrong answer that passes in the kernel (its verdict forged) still fails: on its
    effects in the grader's re-check, or, for the few rules only the kernel can observe,
    on the receipt's own failed verdict."""
    outcome, [receipt] = _receipts(tmp_path, exercise_id, fn)
    assert not outcome.passed, f"{fn.__name__} passed {exercise_id}"
    cell = f'check("{exercise_id}", answer)'
    assert FORGED in cell_verdict(cell, True, [receipt]).message
    if f"{exercise_id}:{fn.__name__}" in KERNEL_ONLY:
        return
    again = recheck(receipt)
    assert isinstance(again, PrincipleViolation), f"the re-check passed {fn.__name__}"
    assert again.principle == outcome.principle, (outcome.message, again.message)
