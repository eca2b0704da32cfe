"""Hints: every exercise has two or three, they are taken one by one, recorded in the
learner's progress (shown by `privacy-course progress`), and never give the answer away."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grading.cli import main
from grading.harness import exercises
from grading.hints import (
    MAX_HINTS,
    MIN_HINTS,
    all_hints,
    hints_for,
    learner_exercises,
    take_hint,
    written_answers,
)
from grading.nbgrader_config import COURSE_DIR
from grading.selfcheck import PROGRESS_ENV, hints_taken, progress_rows
from grading.solutions import model_answer
from sandbox_cms.core.errors import CourseError


@pytest.fixture(autouse=True)
def _no_learner_env(monkeypatch):
    for name in (PROGRESS_ENV, "PRIVACY_COURSE_WORKSPACE", "PRIVACY_COURSE_SOLUTIONS"):
        monkeypatch.delenv(name, raising=False)


def _source_written_cells() -> set[str]:
    """grade ids of the hand-graded (written) answers in the course sources."""
    found = set()
    for path in COURSE_DIR.glob("*/*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and meta.get("solution") and cell.cell_type == "markdown":
                found.add(meta["grade_id"])
    return found


def test_every_registered_exercise_and_written_answer_has_two_or_three_hints():
    registered = {i for i in exercises() if re.match(r"^\d\d-", i)}
    assert registered, "no exercises registered"
    entries = all_hints()
    missing = sorted(registered - set(entries))
    assert not missing, f"no hints for {missing}: add them to datasets/course/hints/"
    written = _source_written_cells()
    unmapped = sorted(written - set(written_answers().values()))
    assert not unmapped, f"written answers without hints (`written = ...`): {unmapped}"
    for ex_id in learner_exercises():
        assert MIN_HINTS <= len(hints_for(ex_id)) <= MAX_HINTS, ex_id
    stale = sorted(set(entries) - registered - set(written_answers()))
    assert not stale, f"hints for exercises that do not exist: {stale}"
    assert set(written_answers().values()) <= written, "a `written` names no answer cell"


def test_hints_go_from_a_nudge_to_the_approach_and_never_hold_a_solution_line():
    """No hint contains a distinctive line of its exercise's model solution or answer, and
    each hint adds something (no repeats)."""
    for ex_id in learner_exercises():
        hints = hints_for(ex_id)
        assert len(set(hints)) == len(hints), ex_id
        model = model_answer(ex_id, COURSE_DIR)
        lines = [ln.strip() for ln in model.text.splitlines() if len(ln.strip()) >= 24]
        for text in hints:
            assert 60 <= len(text) <= 600, f"{ex_id}: hint of {len(text)} characters"
            for line in lines:
                assert " ".join(line.split()) not in text, f"{ex_id}: hint gives away {line!r}"


def test_a_hint_naming_the_law_cites_its_article():
    """A hint that names the GDPR cites the article; each exercise's hints cite one."""
    article = re.compile(r"\b([Aa]rt\.|recital|AWR|BW |RFC|C-\d+/\d+|Chapter V)")
    for ex_id in learner_exercises():
        for n, text in enumerate(hints_for(ex_id), 1):
            if "GDPR" in text:
                assert article.search(text), f"{ex_id} hint {n} names the GDPR, no article"
        assert any(article.search(t) for t in hints_for(ex_id)), f"{ex_id}: no article cited"


def test_hints_are_taken_one_by_one_then_listed_and_recorded_with_their_time(tmp_path):
    progress = tmp_path / "progress.json"
    hints = hints_for("01-minimal-extract")
    shown = [take_hint("01-minimal-extract", progress) for _ in range(len(hints) + 1)]
    for n, (one, text) in enumerate(zip(shown, hints, strict=False), 1):
        assert one.ok and f"Hint {n} of {len(hints)}" in str(one) and text in str(one)
    assert "Hint 2" not in str(shown[0])  # only the next hint, not the ones after it
    last = shown[-1]
    assert not last.ok and "all 3 hints" in str(last)
    assert all(text in str(last) for text in hints)
    taken = hints_taken(progress)["01-minimal-extract"]
    assert [t["hint"] for t in taken] == [1, 2, 3] and all(t["at"] for t in taken)
    rows = {r["id"]: r for r in progress_rows(progress)}
    assert rows["01-minimal-extract"]["hints"] == 3 and rows["01-real-looking"]["hints"] == 0


def test_hint_in_a_notebook_uses_the_learners_progress(tmp_path, monkeypatch):
    from grading import hint

    progress = tmp_path / ".privacy-course" / "progress.json"
    monkeypatch.setenv(PROGRESS_ENV, str(progress))
    first = hint("00-newsletter-consent")
    assert first._repr_markdown_().startswith("**Hint 1 of 3")
    assert "Hint 2 of 3" in hint("00-newsletter-consent")._repr_markdown_()
    assert [t["hint"] for t in hints_taken(progress)["00-newsletter-consent"]] == [1, 2]


def test_hint_and_progress_on_the_command_line(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / ".privacy-course").mkdir(parents=True)
    runner = CliRunner()
    args = ["--workspace", str(workspace)]
    result = runner.invoke(main, ["hint", "01-real-looking", *args])
    assert result.exit_code == 0, result.output
    assert "Hint 1 of 3 for 01-real-looking" in result.output
    result = runner.invoke(main, ["hint", "01-real-looking", "--all-taken", *args])
    assert "Hints taken for 01-real-looking: 1 of 3" in result.output
    assert hints_for("01-real-looking")[0] in result.output
    assert hints_for("01-real-looking")[1] not in result.output
    runner.invoke(main, ["hint", "01-compatibility-test", *args])  # a written answer
    result = runner.invoke(main, ["progress", *args])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(n for n, ln in enumerate(lines) if "01-real-looking" in ln)
    assert lines[row + 1].strip() == "hints taken: 1"
    assert re.search(r"01-compatibility-test\s+written\s+hints taken: 1", result.output)
    data = json.loads((workspace / ".privacy-course" / "progress.json").read_text())
    assert set(data["hints"]) == {"01-real-looking", "01-compatibility-test"}


def test_an_unknown_exercise_is_one_line_listing_the_known_ones(tmp_path):
    result = CliRunner().invoke(main, ["hint", "99-nope", "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert "no hints for '99-nope'" in result.output and "01-minimal-extract" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("text", "says"), [
    ('["01-x"]\nhints = ["only one"]\n', "must be 2 to 3 texts"),
    ('["01-x"]\nhints = ["a", "b"]\nanswer = "no"\n', "unknown keys"),
    ('["01-x"\n', "not valid TOML"),
])
def test_a_broken_hints_file_names_the_file_and_key(tmp_path, text, says):
    folder = tmp_path / "hints"
    folder.mkdir()
    (folder / "09-x.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CourseError, match=re.escape(says)) as err:
        all_hints(folder)
    assert "09-x.toml" in str(err.value)


def test_hints_ship_with_the_data_folder():
    """setup.py copies datasets/ whole into the wheel; the hints live there."""
    from grading.hints import HINTS_DIR
    from sandbox_cms.core.datafiles import DATASETS

    assert HINTS_DIR.is_relative_to(DATASETS)
    assert sorted(p.name for p in Path(HINTS_DIR).glob("*.toml"))


def test_every_module_notebook_tells_the_learner_about_hint_and_solution():
    """One markdown cell before the first exercise names `hint(...)` and `solution(...)`
    with a real exercise id (and the written answer's id where the module has one)."""
    known = set(learner_exercises())
    written = written_answers()
    for path in sorted(COURSE_DIR.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if not any("check(" in c.source for c in nb.cells if c.cell_type == "code"):
            continue
        first = next(n for n, c in enumerate(nb.cells) if c.cell_type == "code"
                     and c.get("metadata", {}).get("nbgrader", {}).get("solution"))
        notes = [c.source for c in nb.cells[:first] if c.cell_type == "markdown"
                 and "hint(" in c.source and "solution(" in c.source]
        assert len(notes) == 1, f"{path.name}: one cell before the first exercise names hint()"
        named = set(re.findall(r"""(?:hint|solution)\(\\?["']([^"'\\]+)""", notes[0]))
        named |= set(re.findall(r"""`"(\d\d-[a-z0-9-]+)"`""", notes[0]))
        assert named and named <= known, f"{path.name}: {sorted(named - known)}"
        cells = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
        for ex_id, grade_id in written.items():
            if grade_id in cells:
                assert ex_id in notes[0], f"{path.name}: the written answer's id {ex_id}"


def test_where_the_task_names_no_principle_the_first_hint_names_none_either():
    """Recognising the rule is part of such an exercise: the first nudge asks the question,
    a later hint names the article."""
    unnamed = [e for e in exercises().values() if not getattr(e, "names_principle", True)]
    for exercise in unnamed:
        first, *later = hints_for(exercise.id)
        assert not re.search(r"\b[Aa]rt\.|GDPR|recital", first), exercise.id
        assert any(re.search(r"\bart\.", h) for h in later), exercise.id


@pytest.mark.slow
def test_hint_and_solution_render_as_markdown_in_a_real_kernel(tmp_path, monkeypatch):
    """In a notebook (a real kernel, the learner's environment) the last line `hint(...)`
    shows the hint as Markdown, and `solution(...)` before trying shows what to do first."""
    from nbclient import NotebookClient

    progress = tmp_path / ".privacy-course" / "progress.json"
    monkeypatch.setenv(PROGRESS_ENV, str(progress))
    monkeypatch.setenv("PRIVACY_COURSE_WORKSPACE", str(tmp_path))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('from grading import hint, solution\nhint("01-training-set")'),
        nbformat.v4.new_code_cell('solution("01-training-set")'),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [c.outputs[0]["data"]["text/markdown"] for c in nb.cells]
    assert shown[0].startswith("**Hint 1 of 3 for 01-training-set.**")
    assert hints_for("01-training-set")[0] in shown[0]
    assert shown[1].startswith("**Not yet:** pass your self-check for 01-training-set first")
    assert [t["hint"] for t in hints_taken(progress)["01-training-set"]] == [1]
