"""Model answers after trying: every exercise has one in the course sources; the command
line and the notebook call refuse before the learner tried (a passing self-check, a saved
written answer of their own) and show it after; never where the instructor turned solutions
off; and neither hints nor solutions reach a student notebook (release or workspace)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grading.cli import main
from grading.hints import all_hints, learner_exercises, written_answers
from grading.nbgrader_config import COURSE_DIR
from grading.selfcheck import PROGRESS_ENV, PROGRESS_NAME, WORKSPACE_MARKER
from grading.solutions import (
    SETTINGS_NAME,
    SOLUTIONS_ENV,
    SolutionRefused,
    model_answer,
    show_solution,
)

WARMUP = "00-newsletter-consent"
WRITTEN = "01-compatibility-test"


@pytest.fixture(autouse=True)
def _no_learner_env(monkeypatch):
    for name in (PROGRESS_ENV, "PRIVACY_COURSE_WORKSPACE", SOLUTIONS_ENV,
                 "PRIVACY_COURSE_SOURCE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A real learner's workspace, made by `privacy-course start --prepare-only`."""
    folder = tmp_path_factory.mktemp("learner") / "ws"
    result = CliRunner().invoke(main, ["start", "--prepare-only", "--workspace", str(folder),
                                       "--course", str(COURSE_DIR)])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def learner(workspace, monkeypatch, tmp_path) -> Path:
    """The workspace as the learner's JupyterLab sees it (progress emptied per test)."""
    progress = workspace / WORKSPACE_MARKER / PROGRESS_NAME
    progress.unlink(missing_ok=True)
    (workspace / WORKSPACE_MARKER / SETTINGS_NAME).unlink(missing_ok=True)
    monkeypatch.setenv(PROGRESS_ENV, str(progress))
    monkeypatch.setenv("PRIVACY_COURSE_WORKSPACE", str(workspace))
    monkeypatch.chdir(tmp_path)
    return workspace


def _solution_function(exercise_id: str, name: str):
    namespace: dict = {}
    exec(compile(model_answer(exercise_id, COURSE_DIR).text, exercise_id, "exec"), namespace)
    return namespace[name]


def _distinctive(text: str, length: int = 24) -> list[str]:
    return [" ".join(ln.split()) for ln in text.splitlines() if len(ln.strip()) >= length]


@pytest.mark.parametrize("exercise_id", learner_exercises())
def test_every_exercise_has_a_model_answer_in_the_sources(exercise_id):
    model = model_answer(exercise_id, COURSE_DIR)
    assert "BEGIN SOLUTION" not in model.text and "END SOLUTION" not in model.text
    if exercise_id in written_answers():
        assert model.kind == "written" and "Rubric" in model.text, exercise_id
    else:
        assert model.kind == "code"
        compile(model.text, exercise_id, "exec")  # whole cells: imports and the function
        assert re.search(r"^def \w+\(", model.text, re.M), exercise_id


def test_the_extracted_model_solution_passes_its_check():
    """The text shown is the reference solution itself: it passes both variants."""
    from grading import run

    fn = _solution_function("01-minimal-extract", "extract_for_bug")
    assert run("01-minimal-extract", fn).passed
    assert run("01-minimal-extract", fn, "hidden").passed


def test_code_solution_is_refused_until_the_self_check_passes(learner):
    from grading import check, solution
    from grading.checks import PrincipleViolation

    runner = CliRunner()
    refused = runner.invoke(main, ["solution", WARMUP])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert f"pass your self-check for {WARMUP} first" in refused.output
    shown = solution(WARMUP)
    assert not shown.ok and "Not yet" in shown._repr_markdown_()

    def everyone(cms):  # a wrong answer: tried, but failed
        with cms.processing("newsletter") as p:
            ids = [r["id"] for r in p.query("SELECT id FROM customers")]
            p.send_mailing(ids, subject="All of you")
        return ids

    with pytest.raises(PrincipleViolation):
        check(WARMUP, everyone)
    assert runner.invoke(main, ["solution", WARMUP]).exit_code == 1
    assert not solution(WARMUP).ok

    check(WARMUP, _solution_function(WARMUP, "send_newsletter"))
    result = runner.invoke(main, ["solution", WARMUP])
    assert result.exit_code == 0, result.output
    expected = _distinctive(model_answer(WARMUP, COURSE_DIR).text)
    assert expected and all(line in " ".join(result.output.split()) for line in expected)
    shown = solution(WARMUP)
    assert shown.ok and "Model solution for 00-newsletter-consent" in shown._repr_markdown_()
    assert "```python" in shown._repr_markdown_()
    # another exercise stays refused
    assert "pass your self-check" in runner.invoke(main, ["solution", "01-real-looking"]).output


def _answer_cell(workspace: Path, grade_id: str):
    for path in sorted(workspace.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
                return path, nb, cell
    raise AssertionError(f"no cell {grade_id} in the workspace")


def test_written_model_answer_is_refused_until_the_learner_saved_their_own(learner):
    from grading import solution

    grade_id = written_answers()[WRITTEN]
    path, nb, cell = _answer_cell(learner, grade_id)
    template = cell.source
    try:
        refused = CliRunner().invoke(main, ["solution", WRITTEN])
        assert refused.exit_code == 1
        assert f"write your own answer for {WRITTEN} first" in refused.output
        cell.source = "   \n"  # emptied: still nothing written
        nbformat.write(nb, path)
        assert not solution(WRITTEN).ok
        cell.source = template + "\n"  # the template, saved again
        nbformat.write(nb, path)
        assert not solution(WRITTEN).ok
        cell.source = ("(a) Testing the new invoicing has a link with invoicing, but (c) the "
                       "copy holds bank accounts of former customers ...")
        nbformat.write(nb, path)
        result = CliRunner().invoke(main, ["solution", WRITTEN])
        assert result.exit_code == 0, result.output
        assert "Model answer and rubric for 01-compatibility-test" in result.output
        assert "Rubric (5 points" in result.output
        assert solution(WRITTEN).ok
    finally:
        cell.source = template
        nbformat.write(nb, path)


def test_turned_off_by_the_instructor_even_after_passing(learner, monkeypatch):
    from grading import check, solution

    check(WARMUP, _solution_function(WARMUP, "send_newsletter"))
    assert CliRunner().invoke(main, ["solution", WARMUP]).exit_code == 0
    monkeypatch.setenv(SOLUTIONS_ENV, "off")
    result = CliRunner().invoke(main, ["solution", WARMUP])
    assert result.exit_code == 1 and "turned model solutions off" in result.output
    assert not solution(WARMUP).ok
    monkeypatch.delenv(SOLUTIONS_ENV)
    (learner / WORKSPACE_MARKER / SETTINGS_NAME).write_text("solutions = false\n")
    result = CliRunner().invoke(main, ["solution", WARMUP])
    assert result.exit_code == 1 and "turned off for this course" in result.output
    assert "Model solution" not in result.output


def test_student_sources_hold_no_solution_to_show(learner, tmp_path):
    """A class's learner image carries the student versions as its course sources: even
    after passing, there is nothing to show, and it says so."""
    from grading import check

    check(WARMUP, _solution_function(WARMUP, "send_newsletter"))
    with pytest.raises(SolutionRefused, match="no model solution for 00-newsletter-consent in"):
        show_solution(WARMUP, source=learner)  # the workspace: student versions only
    with pytest.raises(SolutionRefused, match="not readable"):
        show_solution(WARMUP, source=tmp_path / "nowhere")


def test_outside_a_workspace_nothing_records_the_check_so_nothing_is_shown(tmp_path,
                                                                          monkeypatch):
    from grading import solution

    monkeypatch.chdir(tmp_path)
    shown = solution(WARMUP)
    assert not shown.ok and "outside your workspace" in str(shown)


def test_an_unknown_exercise_is_a_clear_error(learner):
    result = CliRunner().invoke(main, ["solution", "99-nope"])
    assert result.exit_code == 1 and "unknown exercise '99-nope'" in result.output


# --- never leaked ------------------------------------------------------------------------


def _leaks(notebook: Path) -> list[str]:
    """Hint texts and model-solution lines found anywhere in a student notebook."""
    nb = nbformat.read(notebook, as_version=4)
    text = " ".join(" ".join(cell.source.split()) for cell in nb.cells)
    found = []
    for ex_id, entry in all_hints().items():
        found += [f"{ex_id}: hint {n}" for n, h in enumerate(entry.hints, 1) if h in text]
    for ex_id in learner_exercises():
        try:
            model = model_answer(ex_id, COURSE_DIR)
        except SolutionRefused:  # no source yet: test_every_exercise_has_a_model_answer...
            continue
        if model.notebook.name != notebook.name:
            continue
        public = _outside_solutions(model.notebook)
        lines = [ln for ln in _distinctive(model.text) if ln not in public]
        found += [f"{ex_id}: {ln}" for ln in lines if ln in text]
    return found


def _outside_solutions(source: Path) -> str:
    """A source notebook's text outside its SOLUTION blocks (task texts and demos the
    student version shows anyway), whitespace normalised."""
    nb = nbformat.read(source, as_version=4)
    block = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.S)
    return " ".join(" ".join(block.sub(" ", cell.source).split()) for cell in nb.cells)


def test_the_learners_workspace_holds_no_source_notebook_hint_or_solution(workspace):
    notebooks = sorted(p for p in workspace.rglob("*.ipynb") if ".ipynb_checkpoints" not in
                       p.parts)
    assert {p.name for p in notebooks} == {p.name for p in COURSE_DIR.glob("*/*.ipynb")}
    for path in notebooks:
        assert "BEGIN SOLUTION" not in path.read_text(encoding="utf-8"), path
        assert _leaks(path) == [], path
    assert not list(workspace.rglob("*.toml")), "hint data in the workspace"


@pytest.mark.slow
def test_released_student_notebooks_hold_no_hint_or_solution(tmp_path):
    from grading.course import Classroom

    room = Classroom(tmp_path / "room", COURSE_DIR)
    results = room.release()
    assert all(r.ok for r in results), [r.line() for r in results]
    released = sorted((room.root / "release").rglob("*.ipynb"))
    assert len(released) == len(list(COURSE_DIR.glob("*/*.ipynb")))
    for path in released:
        assert _leaks(path) == [], path


def test_the_leak_check_can_fail(tmp_path):
    """_leaks finds a hint or a solution line put into a student notebook."""
    source = next(COURSE_DIR.glob("01-*/*.ipynb"))
    nb = nbformat.read(source, as_version=4)
    nb.cells = [nbformat.v4.new_markdown_cell(all_hints()["01-real-looking"].hints[1])]
    leaky = tmp_path / source.name
    nbformat.write(nb, leaky)
    assert _leaks(leaky) == ["01-real-looking: hint 2"]
    line = next(ln for ln in model_answer("01-minimal-extract", COURSE_DIR).text.splitlines()
                if "hmac.new" in ln)
    nb.cells = [nbformat.v4.new_code_cell(line)]
    nbformat.write(nb, leaky)
    assert _leaks(leaky) and _leaks(leaky)[0].startswith("01-minimal-extract")


def test_the_hub_passes_the_instructors_setting_to_learners_only(tmp_path, monkeypatch):
    """deploy/jupyterhub_config.py: PRIVACY_COURSE_SOLUTIONS set for the hub reaches every
    learner's server environment (an instructor's is left alone)."""
    import runpy
    from types import SimpleNamespace

    from traitlets.config import Config

    repo = Path(__file__).resolve().parent.parent
    for name, value in {"PRIVACY_HUB_SPAWNER": "simple", "PRIVACY_HUB_AUTH": "dummy",
                        "PRIVACY_HUB_PASSWORD": "a-test-password", "PRIVACY_HUB_HOMES":
                        str(tmp_path / "homes"), "PRIVACY_HUB_INSTRUCTORS": "teacher",
                        "PRIVACY_HUB_LEARNERS": "amy", "PRIVACY_COURSE_EXCHANGE":
                        str(tmp_path / "exchange"), "PRIVACY_COURSE_CLASSROOM":
                        str(tmp_path / "room"), SOLUTIONS_ENV: "off"}.items():
        monkeypatch.setenv(name, value)
    config = Config()
    hub = runpy.run_path(str(repo / "deploy" / "jupyterhub_config.py"),
                         init_globals={"get_config": lambda: config})
    hook = config.Spawner.pre_spawn_hook
    hook.__globals__["prepare_hub_user"] = lambda name, home, role, **kw: (home, {"ROLE": role})
    assert hub["SPAWNER"] == "simple"

    def spawn(user: str) -> dict:
        spawner = SimpleNamespace(user=SimpleNamespace(name=user), environment={}, args=[],
                                  home_dir_template=str(tmp_path / "homes" / "{username}"))
        hook(spawner)
        return spawner.environment

    assert spawn("amy") == {"ROLE": "learner-in-class", SOLUTIONS_ENV: "off"}
    assert spawn("teacher") == {"ROLE": "instructor"}
