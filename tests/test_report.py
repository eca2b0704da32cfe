"""The class report and the grades export: principles per exercise and learner, not
submitted apart from zero, no hidden data (fixture assignment ``00-warmup``)."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grading.cli import main
from grading.course import Classroom, read_grades_csv
from grading.hidden import HIDDEN_FILE, load
from grading.report import class_report, principle_of, write_report
from grading.selfcheck import PROGRESS_ENV

FIXTURES = Path(__file__).parent / "fixtures"
COURSE = FIXTURES / "course"
HOSTILE = FIXTURES / "notebooks"
ASSIGNMENT = "00-warmup"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
CONSENT = "Consent"


def _submit(room: Classroom, student: str, solution: str | None) -> None:
    nb = nbformat.read(room.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "send_newsletter" and solution:
            cell.source = solution
    dest = room.root / "submitted" / student / ASSIGNMENT
    dest.mkdir(parents=True)
    nbformat.write(nb, dest / NOTEBOOK)


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    from nbgrader.api import Gradebook

    mp = pytest.MonkeyPatch()
    mp.delenv(PROGRESS_ENV, raising=False)
    room = Classroom(tmp_path_factory.mktemp("report"), COURSE, cell_timeout=20)
    assert [r.ok for r in room.release()] == [True]
    _submit(room, "alice", (HOSTILE / "correct.py").read_text())
    _submit(room, "bob", None)
    _submit(room, "carol", (HOSTILE / "mail_everyone.py").read_text())
    assert all(r.ok for r in room.grade(jobs=2))
    with Gradebook(room.gradebook_url) as gb:  # on the class list, handed nothing in
        gb.add_student("nina")
    yield room
    mp.undo()


pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]


def test_principles_per_exercise_and_learner(room):
    report = class_report(room)
    by_principle = {p: (n, msgs) for p, n, msgs in report.by_principle()}
    consent = [p for p in by_principle if p.startswith(CONSENT)]
    assert consent and by_principle[consent[0]][0] == 1  # carol only
    assert any("(on the hidden scenario" in m for m, _ in by_principle[consent[0]][1])
    (exercise, broke, ran, common), = report.by_exercise()
    assert (exercise, broke, ran) == ("00-newsletter-consent", 2, 3)  # bob and carol
    assert common
    assert report.to_revisit("carol") == consent
    assert report.to_revisit("alice") == [] and report.to_revisit("nina") == []


def test_report_files_keep_not_submitted_apart_and_hold_no_hidden_data(room, tmp_path):
    page, table = write_report(room, tmp_path / "out")
    with open(table, newline="", encoding="utf-8") as fh:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}
    assert rows[("nina", ASSIGNMENT)]["status"] == "not submitted"
    assert rows[("nina", ASSIGNMENT)]["score"] == ""
    assert rows[("bob", ASSIGNMENT)]["status"] == "submitted"
    assert rows[("bob", ASSIGNMENT)]["score"] == "0"
    assert rows[("carol", ASSIGNMENT)]["principles_to_revisit"].startswith(CONSENT)
    html = page.read_text()
    assert "not submitted" in html and html.count("<svg") == 2  # heat map, one histogram
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for secret in ("BEGIN HIDDEN", 'variant="hidden"', "variant=&quot;hidden&quot;",
                   "cms.consent.may"):
        assert secret not in html
    for seed in load(room.root / HIDDEN_FILE).values():
        assert str(seed["seed"]) not in html and str(seed["seed"]) not in table.read_text()


def test_export_says_not_submitted_instead_of_zero(room, tmp_path):
    rows = {r["student_id"]: r for r in read_grades_csv(room.export(tmp_path / "g.csv"))}
    assert (rows["nina"]["status"], rows["nina"]["score"]) == ("not submitted", "")
    assert (rows["bob"]["status"], float(rows["bob"]["score"])) == ("submitted", 0.0)
    assert float(rows["alice"]["score"]) == 2.0


def test_report_from_the_command_line(room, tmp_path):
    result = CliRunner().invoke(main, ["report", "--to", str(tmp_path / "r"), "--classroom",
                                       str(room.root), "--course", str(COURSE)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").is_file() and (tmp_path / "r" / "report.csv").is_file()


def test_principle_of_a_message():
    titles = ["Consent", "Purpose limitation"]
    assert principle_of("Consent (art. 6(1)(a) and 7 GDPR): mailed 3.", titles) == "Consent"
    assert principle_of("NameError: x", titles) == ""


def test_the_rubric_sits_beside_each_written_answer_and_never_reaches_feedback(tmp_path):
    from grading.nbgrader_config import FEEDBACK_PREPROCESSORS
    from grading.rubric import HEADING, DropRubrics, add_rubrics, rubrics

    source = Path(__file__).parent.parent / "course" / "01-training-data" / \
        "01-training-data.ipynb"
    texts = rubrics(source)
    assert list(texts) == ["m01-ex4-answer"] and "Model answer" in texts["m01-ex4-answer"]
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:  # the learner's answer in place of the model answer
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "m01-ex4-answer":
            cell.source = "My answer."
    graded = tmp_path / "01-training-data.ipynb"
    nbformat.write(nb, graded)
    assert add_rubrics(graded, source) == 1
    assert add_rubrics(graded, source) == 1  # again: replaced, not doubled
    cells = nbformat.read(graded, as_version=4).cells
    at = [i for i, c in enumerate(cells)
          if c.metadata.get("nbgrader", {}).get("grade_id") == "m01-ex4-answer"][0]
    assert cells[at].source == "My answer."
    assert cells[at + 1].source.startswith(HEADING) and "Model answer" in cells[at + 1].source
    assert sum(HEADING in c.source for c in cells) == 1
    kept, _ = DropRubrics().preprocess(nbformat.read(graded, as_version=4), {})
    assert not any(HEADING in c.source or "Model answer" in c.source for c in kept.cells)
    assert FEEDBACK_PREPROCESSORS[0] == "grading.rubric.DropRubrics"


def test_the_formgrader_page_loads_no_mathjax_from_a_cdn(tmp_path):
    from nbconvert.exporters import HTMLExporter

    from grading.nbgrader_config import make_config

    config = make_config(tmp_path)
    config.HTMLExporter.template_name = "formgrade"  # what nbgrader's formgrader renders
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("An answer.")])
    body, _ = HTMLExporter(config=config).from_notebook_node(
        nb, resources={"base_url": "/", "notebook_id": "x", "index": 0, "total": 1,
                       "submission_id": "s"})
    assert "formgrader/static" in body  # nbgrader's own template was used
    assert "MathJax is not loaded" in body  # our macro, not nbconvert's
    assert "cdnjs" not in body and 'src="http' not in body and "src='http" not in body


def test_grade_from_the_command_line_skips_unchanged_work_with_progress_lines(room):
    result = CliRunner().invoke(main, ["grade", "--jobs", "2", "--classroom", str(room.root),
                                       "--course", str(COURSE)])
    assert result.exit_code == 0, result.output
    # not a terminal: one plain progress line per submission (on stderr), then the report
    assert "[3/3] ok     grade 00-warmup / carol: unchanged since last graded" in result.output
    assert "score  00-warmup / alice: 2 of 2" in result.output
