"""End to end through nbgrader: release → submissions → grade → feedback → export.

Runs nbgrader's real converters in-process (``grading.course.Classroom`` over
``NbGraderAPI``) on the fixture assignment ``tests/fixtures/course/00-warmup``, whose tests
call the demo exercise ``00-newsletter-consent`` (1 point visible, 1 point hidden). Several
steps share one classroom (a module-scoped fixture) to keep nbgrader's kernels few.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from grading.course import Classroom, read_grades_csv
from grading.selfcheck import PROGRESS_ENV

FIXTURES = Path(__file__).parent / "fixtures"
COURSE = FIXTURES / "course"
HOSTILE = FIXTURES / "notebooks"
ASSIGNMENT = "00-warmup"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
TIMEOUT = 15

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]


def _cells(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def _submit(room: Classroom, student: str, solution: str | None = None,
            tests: str | None = None) -> Path:
    """A submission made from the released student version."""
    nb = nbformat.read(room.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    cells = _cells(nb)
    if solution is not None:
        cells["send_newsletter"].source = solution
    if tests is not None:
        cells["test_visible"].source = tests
        cells["test_hidden"].source = tests
    dest = room.root / "submitted" / student / ASSIGNMENT
    dest.mkdir(parents=True)
    nbformat.write(nb, dest / NOTEBOOK)
    return dest


def _delete_test_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release, seven submissions (one unreadable), grade; returns the classroom and results."""
    mp = pytest.MonkeyPatch()
    mp.delenv(PROGRESS_ENV, raising=False)
    # a short cell timeout, so the endless loop below costs seconds, not a minute
    room = Classroom(tmp_path_factory.mktemp("classroom"), COURSE, cell_timeout=TIMEOUT)
    released = room.release()
    assert [r.ok for r in released] == [True], released
    _submit(room, "alice", (HOSTILE / "correct.py").read_text())
    _submit(room, "bob")  # handed in the student version untouched
    _submit(room, "carol", (HOSTILE / "mail_everyone.py").read_text())
    _submit(room, "dave", (HOSTILE / "mail_everyone.py").read_text(), tests="assert True")
    _submit(room, "erin", (HOSTILE / "rewrite_audit.py").read_text())
    _submit(room, "ivan", (HOSTILE / "endless_loop.py").read_text())
    _submit(room, "mallory", (HOSTILE / "patch_grader.py").read_text())
    _submit(room, "oscar", (HOSTILE / "rebind_check.py").read_text())
    frank = _submit(room, "frank", (HOSTILE / "mail_everyone.py").read_text())
    _delete_test_cells(frank / NOTEBOOK)
    broken = room.root / "submitted" / "zed" / ASSIGNMENT
    broken.mkdir(parents=True)
    shutil.copy(HOSTILE / "truncated_notebook.txt", broken / NOTEBOOK)
    results = room.grade()
    yield room, results
    mp.undo()


def test_release_strips_solutions_and_hidden_tests(graded):
    room, _ = graded
    text = (room.root / "release" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "raise NotImplementedError()" in text
    assert "cms.consent.may" not in text  # the solution
    assert "HIDDEN TESTS" not in text and 'variant=\\"hidden\\"' not in text
    config = (room.root / "nbgrader_config.py").read_text()
    assert config.count(f"c.Execute.timeout = {TIMEOUT}") == 1
    # sources stay in course/: the classroom only links them in (for the formgrader's links)
    link = room.root / "source"
    assert link.is_symlink() and link.resolve() == room.source.resolve()


def test_one_broken_submission_does_not_stop_the_batch(graded):
    _, results = graded
    by_student = {r.student: r for r in results}
    graded_ok = {"alice", "bob", "carol", "dave", "erin", "frank", "ivan", "mallory", "oscar"}
    assert set(by_student) == graded_ok | {"zed"}
    assert not by_student["zed"].ok and by_student["zed"].error
    assert "NotJSONError" in by_student["zed"].error
    assert all(by_student[s].ok for s in graded_ok)
    # the report tells the instructor which test cells scored 0 and why
    assert "grade forged, scored 0: test_visible, test_hidden" in by_student["mallory"].line()
    assert "forged" not in by_student["oscar"].line()
    assert "test cells deleted, scored 0: test_hidden, test_visible" in by_student["frank"].line()
    assert by_student["alice"].line() == "ok     grade 00-warmup / alice"


def test_scores(graded):
    room, _ = graded
    scores = {s.student: (s.score, s.max_score) for s in room.scores()}
    assert scores["alice"] == (2.0, 2.0)  # correct: visible and hidden pass
    assert scores["bob"] == (0.0, 2.0)    # empty: NotImplementedError
    assert scores["carol"] == (0.0, 2.0)  # wrong: mails customers without consent
    assert scores["ivan"] == (0.0, 2.0)   # an endless loop, stopped by c.Execute.timeout


def test_a_submission_that_patches_the_grader_loses_the_forged_cells_and_says_why(graded):
    room, _ = graded
    # mallory's wrong solution replaced grading.harness._grade so every check "passes" in
    # her kernel; the grading process re-checks the receipts and finds no mailing
    assert room.cell_scores(ASSIGNMENT, "mallory") == {"test_visible": 0.0,
                                                       "test_hidden": 0.0}
    autograded = room.root / "autograded" / "mallory" / ASSIGNMENT / NOTEBOOK
    tests = _cells(nbformat.read(autograded, as_version=4))["test_visible"]
    assert "the grade of this cell was forged" in _error_text(tests)
    assert "send exactly one mailing" in _error_text(tests)


def test_a_submission_that_rebinds_check_is_graded_as_it_deserves(graded):
    room, _ = graded
    # oscar's function rebinds the notebook's check while the visible test runs it; during
    # autograding a test cell's check is grading's own (not looked up in the notebook), so
    # his hidden test still runs the grader and fails honestly: he mails everyone
    assert room.cell_scores(ASSIGNMENT, "oscar") == {"test_visible": 0.0, "test_hidden": 0.0}
    autograded = room.root / "autograded" / "oscar" / ASSIGNMENT / NOTEBOOK
    cells = _cells(nbformat.read(autograded, as_version=4))
    for grade_id in ("test_visible", "test_hidden"):
        assert "Consent (art. 6(1)(a) and 7 GDPR)" in _error_text(cells[grade_id])
        assert "forged" not in _error_text(cells[grade_id])
    # the stored test cell is the one the learner sees, not the code that ran
    assert cells["test_visible"].source.startswith("from grading import check")


def test_deleted_test_cells_score_zero(graded):
    room, _ = graded
    scores = {s.student: s for s in room.scores()}
    assert (scores["frank"].score, scores["frank"].max_score) == (0.0, 2.0)


def test_an_endless_loop_is_stopped_by_the_cell_timeout(graded):
    room, _ = graded
    autograded = room.root / "autograded" / "ivan" / ASSIGNMENT / NOTEBOOK
    solution = _cells(nbformat.read(autograded, as_version=4))["send_newsletter"]
    assert "CellTimeoutError" in _error_text(solution) or "Timeout" in _error_text(solution)


def test_an_edited_test_cell_is_restored_and_scores_zero(graded):
    room, _ = graded
    # dave replaced both test cells with `assert True`; nbgrader restores them from the
    # gradebook before running, so his wrong solution is graded as it deserves.
    assert room.cell_scores(ASSIGNMENT, "dave") == {"test_visible": 0.0, "test_hidden": 0.0}
    autograded = room.root / "autograded" / "dave" / ASSIGNMENT / NOTEBOOK
    tests = _cells(nbformat.read(autograded, as_version=4))["test_visible"]
    assert 'check("00-newsletter-consent", send_newsletter)' in tests.source
    assert "Consent (art. 6(1)(a) and 7 GDPR)" in _error_text(tests)


def test_a_rewritten_audit_log_fails_the_audit_check(graded):
    room, _ = graded
    assert room.cell_scores(ASSIGNMENT, "erin") == {"test_visible": 0.0, "test_hidden": 0.0}
    autograded = room.root / "autograded" / "erin" / ASSIGNMENT / NOTEBOOK
    tests = _cells(nbformat.read(autograded, as_version=4))["test_visible"]
    # erin mailed the right customers, then deleted the mailing from the audit log
    assert "Accountability (audit trail) (art. 5(2) GDPR)" in _error_text(tests)


def _error_text(cell) -> str:
    return "\n".join(
        f"{o.get('ename', '')}: {o.get('evalue', '')}" for o in cell.outputs
        if o.output_type == "error"
    )


def test_export_writes_every_score_to_csv(graded, tmp_path):
    room, _ = graded
    path = room.export(tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in read_grades_csv(path)}
    assert float(rows["alice"]["score"]) == 2.0 and float(rows["alice"]["max_score"]) == 2.0
    assert float(rows["carol"]["score"]) == 0.0


def test_feedback_leaves_out_hidden_tests(graded):
    room, _ = graded
    results = room.feedback()
    assert {r.student for r in results if r.ok} >= {"alice", "carol"}
    html = (room.root / "feedback" / "carol" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "Consent (art. 6(1)(a) and 7 GDPR)" in html
    assert "BEGIN HIDDEN TESTS" not in html
    assert "variant=&quot;hidden&quot;" not in html and 'variant="hidden"' not in html
    assert "cdnjs" not in html  # nothing loaded from the internet: it opens offline


def test_the_default_cell_timeout_is_a_minute(tmp_path):
    from grading.nbgrader_config import config_file_text, make_config

    assert make_config(tmp_path).Execute.timeout == 60
    assert "c.Execute.timeout = 60\n" in config_file_text(tmp_path)


def test_the_real_course_releases_without_solutions_or_hidden_tests(tmp_path):
    """Every assignment in course/: no solution line in the student's solution cells, no
    hidden test anywhere (the proof per exercise is in test_module00/01; this is wiring)."""
    from grading.nbgrader_config import COURSE_DIR

    room = Classroom(tmp_path / "room", COURSE_DIR)
    if not room.assignments():
        pytest.skip("no assignments in course/ yet")
    results = room.release()
    assert all(r.ok for r in results), [r.line() for r in results]
    for assignment in room.assignments():
        for source in (COURSE_DIR / assignment).glob("*.ipynb"):
            student = nbformat.read(room.root / "release" / assignment / source.name, 4)
            text = "\n".join(cell.source for cell in student.cells)
            assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
            released = _cells(student)
            for grade_id, lines in _solution_lines(nbformat.read(source, 4)).items():
                for line in lines:
                    assert line not in released[grade_id].source, (
                        f"{assignment}/{grade_id}: solution line leaked: {line}")


def _solution_lines(nb) -> dict[str, list[str]]:
    """The lines between BEGIN/END SOLUTION, per solution cell."""
    found: dict[str, list[str]] = {}
    for grade_id, cell in _cells(nb).items():
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) >= 16:  # distinctive lines, not ")"
                found.setdefault(grade_id, []).append(line.strip())
    return found


WRONG_SCAN = '''def find_real_looking(cms, dump):
    # Wrong on purpose: only well-known free-mail domains; misses BSNs and real banks.
    free = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "live.nl")
    return {r["id"] for r in dump if r["email"].split("@")[-1] in free}
'''


SWALLOW = """

import grading
import grading.harness
from grading.checks import PrincipleViolation

_real_check = grading.harness.check


def _quiet_check(*args, **kwargs):
    try:
        _real_check(*args, **kwargs)
    except PrincipleViolation:
        pass


grading.check = _quiet_check
"""


HABITS = """%%time
!pip show nbformat > /dev/null


def check(value):  # a helper of the learner's own, named like the grader's function
    return value


"""


def _is_code(nb, grade_id: str) -> bool:
    return _cells(nb)[grade_id].cell_type == "code"


def test_module01_release_three_submissions_grade_export(tmp_path, monkeypatch):
    """Module 01 end to end: the correct submission earns every automatic point (the
    written answer waits for the formgrader), the empty one none, one wrong exercise
    loses exactly that exercise's points, and so does the same wrong exercise whose
    failures are swallowed in the kernel (its cells say their grade was forged)."""
    from grading.nbgrader_config import COURSE_DIR

    assignment = "01-training-data"
    if not (COURSE_DIR / assignment).is_dir():
        pytest.skip("module 01 not in course/ yet")
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    room = Classroom(tmp_path / "room", COURSE_DIR)
    assert [r.ok for r in room.release(assignment)] == [True]
    notebook = f"{assignment}.ipynb"
    source = nbformat.read(COURSE_DIR / assignment / notebook, as_version=4)
    solutions = {gid: c.source for gid, c in _cells(source).items()
                 if c.metadata.get("nbgrader", {}).get("solution")}  # code and written
    scan_cell = next(gid for gid, src in solutions.items() if "def find_real_looking" in src)
    tests = [c for c in source.cells if c.cell_type == "code"
             and c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    automatic = sum(c.metadata["nbgrader"]["points"] for c in tests)
    scan_points = sum(c.metadata["nbgrader"]["points"] for c in tests
                      if "find_real_looking" in c.source)

    for student, answers in {
        "correct": solutions,
        "empty": {},
        "wrong": {**solutions, scan_cell: WRONG_SCAN},
        "forged": {**solutions, scan_cell: WRONG_SCAN + SWALLOW},
        "habits": {gid: HABITS + src if _is_code(source, gid) else src
                   for gid, src in solutions.items()},
    }.items():
        nb = nbformat.read(room.root / "release" / assignment / notebook, as_version=4)
        for gid, cell in _cells(nb).items():
            if gid in answers:
                cell.source = answers[gid]
        dest = room.root / "submitted" / student / assignment
        dest.mkdir(parents=True)
        nbformat.write(nb, dest / notebook)

    results = room.grade(assignment)
    assert all(r.ok for r in results), [r.line() for r in results]
    scores = {s.student: s for s in room.scores()}
    assert scores["correct"].score == automatic and scores["correct"].needs_manual_grade
    assert scores["empty"].score == 0
    assert scores["wrong"].score == automatic - scan_points
    # the same wrong scan with every failure swallowed in the kernel: exactly the scan's
    # test cells lose their points, each saying its grade was forged
    assert scores["forged"].score == automatic - scan_points
    assert scores["habits"].score == automatic  # %%time, !pip, a helper named check
    graded = nbformat.read(room.root / "autograded" / "forged" / assignment / notebook, 4)
    forged = {gid for gid, c in _cells(graded).items() if c.cell_type == "code"
              and "the grade of this cell was forged" in _error_text(c)}
    assert forged == {c.metadata["nbgrader"]["grade_id"] for c in tests
                      if "find_real_looking" in c.source}
    rows = {r["student_id"]: r for r in read_grades_csv(room.export())}
    assert float(rows["correct"]["score"]) == automatic
    assert float(rows["wrong"]["score"]) == automatic - scan_points


def test_export_from_the_command_line(graded, tmp_path):
    from click.testing import CliRunner

    from grading.cli import main

    room, _ = graded
    dest = tmp_path / "out" / "grades.csv"
    result = CliRunner().invoke(main, ["export", "--to", str(dest), "--classroom",
                                       str(room.root), "--course", str(COURSE)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(dest)
    assert {r["student_id"] for r in read_grades_csv(dest)} >= {"alice", "bob", "ivan"}
