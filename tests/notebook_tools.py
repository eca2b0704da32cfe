"""Helpers for the course-notebook tests (test_module*.py, test_exercise_proofs.py).

Read a source notebook, pull a solution function out of it, execute a notebook with a real
kernel (nbclient), and generate the student version with nbgrader (through
``grading.course.Classroom.release``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "course"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
WRONG_DIR = Path(__file__).resolve().parent / "fixtures" / "wrong_answers"

# Every exercise with a solution cell and a table of plausible wrong answers:
# exercise id -> (assignment, solution cell, function name, wrong-answers module).
EXERCISES = {
    "01-training-set": ("01-training-data", "m01-ex1-solution", "make_training_set",
                        "m01_training_set"),
    "01-real-looking": ("01-training-data", "m01-ex2-solution", "find_real_looking",
                        "m01_real_looking"),
    "01-minimal-extract": ("01-training-data", "m01-ex3-solution", "extract_for_bug",
                           "m01_minimal_extract"),
    "02-transfer-plan": ("02-storage-transfers", "m02-ex1-solution", "assess_transfers",
                         "m02_transfer_plan"),
    "02-restorable": ("02-storage-transfers", "m02-ex2-solution", "make_restorable",
                      "m02_restorable"),
    "03-share-with-foundation": ("03-consent-sharing", "m03-ex1-solution",
                                 "share_with_foundation", "m03_share_with_foundation"),
    "03-consent-forms": ("03-consent-sharing", "m03-ex2-solution", "review_forms",
                         "m03_consent_forms"),
    "04-erasure-request": ("04-retention", "m04-ex1-solution", "erase_customer",
                           "m04_erasure_request"),
    "04-retention-job": ("04-retention", "m04-ex2-solution", "retention_job",
                         "m04_retention_job"),
    "05-access-copy": ("05-access-requests", "m05-ex1-solution", "answer_access_request",
                       "m05_access_copy"),
    "05-on-time": ("05-access-requests", "m05-ex2-solution", "plan_answers", "m05_on_time"),
    "05-verify-identity": ("05-access-requests", "m05-ex3-solution", "reply_to_requests",
                           "m05_verify_identity"),
    "05-pass-on-erasure": ("05-access-requests", "m05-ex4-solution", "pass_on_erasure",
                           "m05_pass_on_erasure"),
    "06-who-and-what": ("06-data-breach", "m06-ex1-solution", "find_leaked",
                        "m06_who_and_what"),
    "06-notify": ("06-data-breach", "m06-ex2-solution", "decide_notifications", "m06_notify"),
    "06-register": ("06-data-breach", "m06-ex3-solution", "write_register", "m06_register"),
    "07-monday-tickets": ("07-capstone", "m07-ex1-solution", "weekend_tickets",
                          "m07_monday_tickets"),
    "07-monday-paperwork": ("07-capstone", "m07-ex2-solution", "file_tickets",
                            "m07_monday_paperwork"),
    "07-tuesday-mail": ("07-capstone", "m07-ex3-solution", "answer_mail", "m07_tuesday_mail"),
    "07-tuesday-inbox": ("07-capstone", "m07-ex4-solution", "reply_to_inbox",
                         "m07_tuesday_inbox"),
    "07-wednesday-goodbye": ("07-capstone", "m07-ex5-solution", "forget_customer",
                             "m07_wednesday_goodbye"),
    "07-thursday-night-run": ("07-capstone", "m07-ex6-solution", "night_run",
                              "m07_thursday_night_run"),
    "07-friday-vendors": ("07-capstone", "m07-ex7-solution", "assess_analytics",
                          "m07_friday_vendors"),
    "07-saturday-foundation": ("07-capstone", "m07-ex8-solution", "answer_foundation",
                               "m07_saturday_foundation"),
}


def wrong_answers(module: str) -> Any:
    """The module of plausible wrong answers ``tests/fixtures/wrong_answers/<module>.py``."""
    spec = importlib.util.spec_from_file_location(f"wrong_{module}", WRONG_DIR / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def solution(exercise_id: str) -> Any:
    """The reference solution of an exercise, taken from its source notebook."""
    assignment, grade_id, name, _ = EXERCISES[exercise_id]
    return solution_function(assignment, grade_id, name)


def source_notebook(assignment: str) -> Path:
    return COURSE / assignment / f"{assignment}.ipynb"


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell: Any) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell(nb: nbformat.NotebookNode, grade_id: str) -> Any:
    for c in nb.cells:
        if nbgrader_meta(c).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def section(nb: nbformat.NotebookNode, grade_id: str) -> str:
    """The text of a cell and of its continuations (``<grade_id>-2``, ``-3``, ...): a long
    block of reading is split into pieces with something to run between them."""
    found = [c.source for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id
             or nbgrader_meta(c).get("grade_id", "").startswith(grade_id + "-")
             and nbgrader_meta(c)["grade_id"][len(grade_id) + 1:].isdigit()]
    if not found:
        raise KeyError(grade_id)
    return "\n\n".join(found)


def graded_test_cells(nb: nbformat.NotebookNode) -> list[Any]:
    """Autograded test cells: graded code cells that are not solutions."""
    return [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("grade")
            and not nbgrader_meta(c).get("solution")]


def solution_function(assignment: str, grade_id: str, name: str) -> Any:
    """The reference solution ``name`` defined in the notebook's cell ``grade_id``."""
    nb = load(source_notebook(assignment))
    namespace: dict[str, Any] = {}
    exec(compile(cell(nb, grade_id).source, f"{assignment}:{grade_id}", "exec"), namespace)
    return namespace[name]


def execute(path: Path, *, allow_errors: bool = False, timeout: int = 120) -> Any:
    """Run a notebook top to bottom in a fresh python3 kernel, in its own folder."""
    from nbclient import NotebookClient

    nb = load(path)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def error_of(executed_cell: Any) -> str | None:
    """The 'ename: evalue' of a cell's error output, or None if it ran cleanly."""
    for output in executed_cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output['ename']}: {output['evalue']}"
    return None


def release(assignment: str, root: Path) -> Path:
    """The student version of an assignment, made by nbgrader generate_assignment."""
    from grading.course import Classroom

    results = Classroom(root=root).release(assignment)
    failed = [r.line() for r in results if not r.ok]
    assert not failed, failed
    return root / "release" / assignment / f"{assignment}.ipynb"


def points(nb: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every graded cell (autograded tests and manual answers)."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
            for c in nb.cells if nbgrader_meta(c).get("grade")}


def autograde_solution_and_untouched(assignment: str, root: Path) -> dict[str, dict[str, float]]:
    """Release the assignment, hand in two submissions and autograde them with nbgrader:
    ``solution`` (the student version with the source's solution cells put back) and
    ``untouched`` (the student version as released). Returns grade_id -> score per student."""
    from grading.course import Classroom

    student_nb = release(assignment, root)
    source = load(source_notebook(assignment))
    solutions = {nbgrader_meta(c)["grade_id"]: c.source for c in source.cells
                 if c.cell_type == "code" and nbgrader_meta(c).get("solution")}
    for student, fill in (("solution", True), ("untouched", False)):
        nb = load(student_nb)
        if fill:
            for c in nb.cells:
                grade_id = nbgrader_meta(c).get("grade_id")
                if grade_id in solutions:
                    c.source = solutions[grade_id]
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
    room = Classroom(root=root)
    failed = [r.line() for r in room.grade(assignment) if not r.ok]
    assert not failed, failed
    return {s: room.cell_scores(assignment, s) for s in ("solution", "untouched")}


def full_marks_and_none(assignment: str, tmp_path: Path, monkeypatch, *, written: str,
                        automatic: int) -> tuple[nbformat.NotebookNode, str]:
    """Through real nbgrader: the solution gets full marks on every automatic cell and the
    untouched student version none, the written answer ``written`` waits for the instructor,
    no error outside the test cells, and the released student version holds no solution
    block and no hidden tests. Returns the released student notebook and its text."""
    monkeypatch.delenv("PRIVACY_COURSE_PROGRESS", raising=False)
    scores = autograde_solution_and_untouched(assignment, tmp_path / "classroom")
    graded = points(load(source_notebook(assignment)))
    cells = {gid for gid in graded if gid != written}
    assert len(cells) == automatic
    for gid in cells:
        assert scores["solution"][gid] == graded[gid], (gid, scores["solution"])
        assert scores["untouched"][gid] == 0, (gid, scores["untouched"])
    assert scores["solution"][written] == 0  # waits for the instructor
    for student in ("solution", "untouched"):
        nb = autograded(tmp_path / "classroom", student, assignment)
        assert errors_outside_tests(nb) == [], student
    student = load(release(assignment, tmp_path / "again"))
    text = "\n".join(c.source for c in student.cells)
    assert "### BEGIN SOLUTION" not in text and HIDDEN_BEGIN not in text
    return student, text


def autograded(root: Path, student: str, assignment: str) -> nbformat.NotebookNode:
    """The notebook nbgrader executed for one submission (outputs included)."""
    return load(root / "autograded" / student / assignment / f"{assignment}.ipynb")


def errors_outside_tests(nb: nbformat.NotebookNode) -> list[str]:
    """Errors in cells that are not graded test cells (the tour, demos, solutions)."""
    tests = {id(c) for c in graded_test_cells(nb)}
    return [f"{nbgrader_meta(c).get('grade_id')}: {error_of(c)}" for c in nb.cells
            if c.cell_type == "code" and id(c) not in tests and error_of(c)]
