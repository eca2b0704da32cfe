"""The course's nbgrader preprocessors, fast and without a kernel.

The autograde run itself (correct notebooks with ordinary habits keep full marks, forged
grades lose exactly the forged cells) is proven end to end in test_fair_grading.py and
test_course_pipeline.py; the receipts and their re-check in test_receipts.py.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grading.preprocessors import HideHiddenTests, VerifiedExecute, grader_check


def test_the_autograde_step_replaces_execute_and_keeps_its_settings():
    """nbconvert skips a preprocessor whose ``enabled`` is False (its default); the course's
    c.Execute settings (timeout) apply to its subclass."""
    from nbgrader.converters.autograde import Autograde

    from grading.nbgrader_config import make_config

    config = make_config(Path("/tmp/unused"), cell_timeout=17)
    app = Autograde(config=config)
    steps = [step.__name__ for step in app.autograde_preprocessors]
    assert steps[0] == "VerifiedExecute" and "Execute" not in steps
    assert "FlagGraderTampering" not in steps  # nothing reads the learner's spelling
    step = VerifiedExecute(config=config)
    assert step.enabled and step.timeout == 17


@pytest.mark.parametrize("source, runs", [
    ('from grading import check\n\ncheck("00-x", f)',
     "pass\n__import__('grading').check('00-x', f)"),
    ('# Hidden test\n### BEGIN HIDDEN TESTS\nfrom grading import check, run\n'
     'check("00-x", f, variant="hidden")\n### END HIDDEN TESTS',
     "from grading import run\n__import__('grading').check('00-x', f, variant='hidden')"),
    ('check("00-x", f)', "__import__('grading').check('00-x', f)"),
    ("from grading import check as grade\ngrade('00-x', f)",
     "from grading import check as grade\ngrade('00-x', f)"),
    ("def broken(:", "def broken(:"),
])
def test_a_test_cell_runs_the_graders_check_without_binding_the_name(source, runs):
    """A learner's own ``check`` helper survives the test cells during autograding."""
    assert grader_check(source) == runs


def _meta(grade_id: str, **flags) -> dict:
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "grade": False,
                         "solution": False, "locked": True, "task": False, **flags}}


def _error(evalue: str, traceback: list[str]) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename="PrincipleViolation", evalue=evalue,
                                  traceback=traceback)


def test_feedback_shows_a_test_cells_error_as_its_message_and_rule():
    message = "Consent (art. 6(1)(a) and 7 GDPR): 2 customers … (on the hidden scenario)."
    cell = nbformat.v4.new_code_cell(
        "### BEGIN HIDDEN TESTS\ncheck('00-x', f, variant='hidden')\n### END HIDDEN TESTS",
        metadata=_meta("test_hidden", grade=True, points=1))
    cell.outputs = [_error(message, [
        "---------------------------------------------------------------------------",
        "PrincipleViolation                        Traceback (most recent call last)",
        "File /work/main/.venv/lib/python3.11/site-packages/grading/harness.py:290",
        "----> 1 check('00-x', f, variant='hidden')",
        f"PrincipleViolation: {message}",
        "The rule: Process for a consent-based purpose only customers with valid consent.",
    ])]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert "check(" not in cell.source
    assert cell.outputs[0].traceback == [
        f"PrincipleViolation: {message}",
        "The rule: Process for a consent-based purpose only customers with valid consent."]


def test_feedback_shortens_machine_paths_in_the_learners_own_errors():
    cell = nbformat.v4.new_code_cell("open('x')", metadata=_meta("answer", solution=True,
                                                                  locked=False))
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="FileNotFoundError",
        evalue="[Errno 2] No such file: '/tmp/grading-00-x-abc/sandbox/x.db'",
        traceback=["File /tmp/ipykernel_4242/123.py:1", "FileNotFoundError: ..."])]
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    output = cell.outputs[0]
    assert "/tmp/" not in output.evalue and "…/x.db" in output.evalue
    assert output.traceback[0] == "File …/123.py:1"
