"""No false zeros, no forged passes: fixture sets through the real ``privacy-course grade``.

One nbgrader autograde over many submissions of the tiny fixture assignment
``tests/fixtures/course/00-warmup`` (one exercise, a visible and a hidden test cell):

- every correct submission in ``tests/fixtures/habits/`` (pip and shell magics, ``%%time``,
  a helper named ``check``, ``re.compile``, stderr output, ...) gets full marks;
- every submission in ``tests/fixtures/tampering/`` loses exactly the cells its answer does
  not earn, and a cell that passed in the learner's kernel but is not confirmed by the
  grading process says that its grade was forged;
- the HTML feedback of a failing hidden test holds one line per error, no traceback, no
  path of the grading machine and no id of the hidden sandbox.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from grading.course import Classroom
from grading.receipts import FORGED
from grading.selfcheck import PROGRESS_ENV

FIXTURES = Path(__file__).parent / "fixtures"
COURSE = FIXTURES / "course"
HABITS = sorted((FIXTURES / "habits").glob("*.ipy"))
TAMPERING_DIR = FIXTURES / "tampering"
ASSIGNMENT = "00-warmup"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
WRONG = (FIXTURES / "notebooks" / "mail_everyone.py").read_text()
CORRECT = (FIXTURES / "notebooks" / "correct.py").read_text()
WRONG_ON_HIDDEN = """calls = []


def send_newsletter(cms):
    # Right on the visible test, wrong (mails everyone) on the hidden one.
    calls.append(1)
    with cms.processing("newsletter") as p:
        rows = p.query("SELECT id FROM customers ORDER BY id")
        ids = [r["id"] for r in rows
               if len(calls) > 1 or cms.consent.may(r["id"], "newsletter").allowed]
        p.send_mailing(ids, subject="Spring offers")
    return ids
"""
BOTH = ("test_visible", "test_hidden")

TAMPERING: dict[str, tuple[float, float, tuple[str, ...]]] = {
    # file: (visible score, hidden score, cells that must say their grade was forged)
    "replace_grading_check": (0, 0, BOTH),
    "dict_update_grade": (0, 0, BOTH),
    "swallow_violation": (0, 0, BOTH),
    "patch_outcome": (0, 0, BOTH),
    "patch_audit_verify": (0, 0, BOTH),
    "builtins_noop": (0, 0, ()),  # the test cells' check is grading's, not a name lookup
    "fake_receipt": (0, 0, BOTH),
    "patch_exercise_checks": (0, 0, BOTH),
    "patch_reference_engine": (0, 0, BOTH),
    "right_then_forged": (1, 0, ("test_hidden",)),
    "sandbox_swap": (0, 0, BOTH),
    "patch_principle_violation": (0, 0, ()),
    "remove_receipts": (0, 0, BOTH),
}

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]


def _cells(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def _submit(room: Classroom, student: str, text: str) -> Path:
    """A submission made from the released student version: the ``# %%`` chunk that
    defines send_newsletter replaces the solution cell; the others become the learner's
    own cells before or after it."""
    nb = nbformat.read(room.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    chunks = [c.strip("\n") for c in re.split(r"^# %%\n", text, flags=re.M) if c.strip()]
    main = next(i for i, c in enumerate(chunks) if "def send_newsletter" in c)
    at = next(i for i, c in enumerate(nb.cells)
              if c.metadata.get("nbgrader", {}).get("grade_id") == "send_newsletter")
    nb.cells[at].source = chunks[main]
    nb.cells[at + 1:at + 1] = [nbformat.v4.new_code_cell(c) for c in chunks[main + 1:]]
    nb.cells[at:at] = [nbformat.v4.new_code_cell(c) for c in chunks[:main]]
    dest = room.root / "submitted" / student / ASSIGNMENT
    dest.mkdir(parents=True)
    nbformat.write(nb, dest / NOTEBOOK)
    return dest / NOTEBOOK


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release once, hand in every fixture submission, grade them all in one run."""
    mp = pytest.MonkeyPatch()
    mp.delenv(PROGRESS_ENV, raising=False)
    room = Classroom(tmp_path_factory.mktemp("classroom"), COURSE, cell_timeout=30)
    assert [r.ok for r in room.release()] == [True]
    for path in HABITS:
        _submit(room, f"habit-{path.stem}", path.read_text())
    for name in TAMPERING:
        _submit(room, f"tamper-{name}", (TAMPERING_DIR / f"{name}.ipy").read_text())
    edited = _submit(room, "tamper-edited_test_cells", WRONG)
    nb = nbformat.read(edited, as_version=4)
    for grade_id in BOTH:
        _cells(nb)[grade_id].source = "assert True"
    nbformat.write(nb, edited)
    deleted = _submit(room, "tamper-deleted_hidden_cell", CORRECT)
    nb = nbformat.read(deleted, as_version=4)
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") != "test_hidden"]
    nbformat.write(nb, deleted)
    _submit(room, "hidden-wrong", WRONG_ON_HIDDEN)
    results = room.grade()
    assert all(r.ok for r in results), [r.line() for r in results]
    yield room, {r.student: r for r in results}
    mp.undo()


def _outputs(room: Classroom, student: str) -> dict[str, str]:
    nb = nbformat.read(room.root / "autograded" / student / ASSIGNMENT / NOTEBOOK, 4)
    return {gid: "\n".join(f"{o.get('ename', '')}: {o.get('evalue', '')}" if
                           o.output_type == "error" else str(o.get("text", ""))
                           for o in c.outputs)
            for gid, c in _cells(nb).items() if gid in BOTH}


def test_the_sets_are_large_enough():
    assert len(HABITS) >= 15
    assert len(TAMPERING) + 2 >= 10
    assert {p.stem for p in TAMPERING_DIR.glob("*.ipy")} == set(TAMPERING)


@pytest.mark.parametrize("habit", [p.stem for p in HABITS])
def test_a_correct_notebook_with_ordinary_habits_gets_full_marks(graded, habit):
    room, results = graded
    student = f"habit-{habit}"
    outputs = _outputs(room, student)
    assert room.cell_scores(ASSIGNMENT, student) == {"test_visible": 1.0,
                                                     "test_hidden": 1.0}, outputs
    assert results[student].error == "", results[student].line()
    assert "passed" in outputs["test_visible"] and "passed" in outputs["test_hidden"]


@pytest.mark.parametrize("name", list(TAMPERING))
def test_a_forged_grade_costs_exactly_the_forged_cells(graded, name):
    room, results = graded
    visible, hidden, forged = TAMPERING[name]
    student = f"tamper-{name}"
    outputs = _outputs(room, student)
    assert room.cell_scores(ASSIGNMENT, student) == {"test_visible": visible,
                                                     "test_hidden": hidden}, outputs
    for grade_id in BOTH:
        assert (FORGED in outputs[grade_id]) == (grade_id in forged), (grade_id, outputs)
    if forged:
        assert f"grade forged, scored 0: {', '.join(forged)}" in results[student].line()


def test_an_edited_test_cell_is_restored_and_graded_honestly(graded):
    room, _ = graded
    outputs = _outputs(room, "tamper-edited_test_cells")
    assert room.cell_scores(ASSIGNMENT, "tamper-edited_test_cells") == {
        "test_visible": 0.0, "test_hidden": 0.0}
    assert "Consent (art. 6(1)(a) and 7 GDPR)" in outputs["test_visible"]
    assert FORGED not in outputs["test_visible"] + outputs["test_hidden"]


def test_a_deleted_graded_cell_costs_that_cell_only(graded):
    room, results = graded
    student = "tamper-deleted_hidden_cell"
    scores = room.cell_scores(ASSIGNMENT, student)
    assert scores["test_visible"] == 1.0 and scores.get("test_hidden", 0.0) == 0.0
    assert {s.student: s.score for s in room.scores()}[student] == 1.0
    assert "test cells deleted, scored 0: test_hidden" in results[student].line()


def test_a_failing_hidden_test_shows_one_line_without_hidden_data(graded):
    """In the autograded notebook and in the HTML feedback: the principle first, no
    traceback, no path of the grading machine, no id of the hidden sandbox."""
    from grading import run
    from grading.hidden import HIDDEN_ENV, HIDDEN_FILE, available

    room, _ = graded
    assert room.cell_scores(ASSIGNMENT, "hidden-wrong") == {"test_visible": 1.0,
                                                           "test_hidden": 0.0}
    nb = nbformat.read(room.root / "autograded" / "hidden-wrong" / ASSIGNMENT / NOTEBOOK, 4)
    [error] = [o for o in _cells(nb)["test_hidden"].outputs if o.output_type == "error"]
    assert error.evalue.startswith("Consent (art. 6(1)(a) and 7 GDPR): ")
    assert error.traceback[0] == f"PrincipleViolation: {error.evalue}"
    assert len(error.traceback) <= 2 and "Traceback" not in "".join(error.traceback)

    parameters = room.root / HIDDEN_FILE
    namespace: dict = {}
    exec(WRONG, namespace)  # noqa: S102 - our own fixture
    with available(parameters if parameters.is_file() else Path(os.environ[HIDDEN_ENV])):
        outcome = run("00-newsletter-consent", namespace["send_newsletter"], "hidden")
    hidden_ids = {int(m) for r in outcome.violation.records
                  for m in re.findall(r"customer (\d+)", r)}
    assert len(hidden_ids) >= 3  # the plain message would name them
    for customer in hidden_ids:
        assert f"customer {customer}" not in error.evalue

    results = room.feedback(ASSIGNMENT)
    assert all(r.ok for r in results if r.student == "hidden-wrong")
    html = (room.root / "feedback" / "hidden-wrong" / ASSIGNMENT / f"{ASSIGNMENT}.html"
            ).read_text()
    text = re.sub(r"<style.*?</style>|<script.*?</script>", "", html, flags=re.S)
    assert "PrincipleViolation: Consent (art. 6(1)(a) and 7 GDPR)" in text
    assert "Traceback" not in text and "most recent call last" not in text
    assert not re.search(r"(?:/tmp/|/home/|/work/|site-packages|ipykernel_\d)", text)
    for customer in hidden_ids:
        assert f"customer {customer}" not in text
    assert "BEGIN HIDDEN TESTS" not in text
