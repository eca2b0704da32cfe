"""Model solutions and model answers, shown only after the learner has tried.

``privacy-course solution EXERCISE`` and, in a notebook, ``solution("01-minimal-extract")``
show, for a code exercise, the solution cells of the source notebook (the cells before the
exercise's visible test cell up to the one that defines the function it checks, ``### BEGIN
SOLUTION`` markers taken out), and for a written answer, graded by hand, its model answer
and rubric (the SOLUTION block of its cell, the same text :mod:`grading.rubric` puts beside
the answer for the grader). Nothing is copied: the text comes from the course sources
installed with the package (``$PRIVACY_COURSE_SOURCE`` if set).

Shown only after trying:

- a code exercise once the learner's self-check for it has passed (the progress file
  says so: :mod:`grading.selfcheck`);
- a written answer once the learner has written and saved their own answer: a notebook in
  their workspace holds that cell with text that is neither empty nor the student
  template;

and never where the instructor turned solutions off: ``PRIVACY_COURSE_SOLUTIONS=off`` in
the learner's environment (set by the class's deployment), or ``solutions = false`` in
``<workspace>/.privacy-course/settings.toml``. These rules keep an honest learner from
peeking too early; they are no lock. A learner alone has the course sources anyway; in a
class the learners' servers get no readable sources (``docs/jupyterhub.md``), so nothing
can be shown there whatever the setting.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from grading.hints import Shown, learner_exercises, written_answers
from grading.nbgrader_config import SOURCE_ENV
from grading.rubric import solution_blocks
from sandbox_cms.core.datafiles import COURSE, read_toml
from sandbox_cms.core.errors import CourseError

SOLUTIONS_ENV = "PRIVACY_COURSE_SOLUTIONS"
SETTINGS_NAME = "settings.toml"
"""Course settings of a workspace, in its ``.privacy-course/`` folder: ``solutions = false``."""
OFF = frozenset({"0", "off", "false", "no"})

_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)


class SolutionRefused(CourseError):
    """The model solution may not be shown (yet); the message says what to do first."""


@dataclass(frozen=True)
class ModelAnswer:
    """The model solution of a code exercise, or a written answer's model answer and
    rubric, as taken from the course source notebook."""

    exercise_id: str
    kind: str  # "code" or "written"
    text: str
    notebook: Path
    cells: tuple[str, ...]  # the grade ids of the source cells

    def markdown(self) -> str:
        where = f"{self.notebook.parent.name}/{self.notebook.name}"
        if self.kind == "code":
            return (f"**Model solution for {self.exercise_id}** (from the course source, "
                    f"`{where}`). Compare it with yours: more than one answer is right, "
                    f"and yours passed the same checks.\n\n```python\n{self.text}\n```")
        return (f"**Model answer and rubric for {self.exercise_id}** (from the course "
                f"source, `{where}`). Grade your own answer with the rubric.\n\n{self.text}")


# --- finding the model answer in the sources ---------------------------------------------


def source_folder() -> Path:
    """The course sources: ``$PRIVACY_COURSE_SOURCE``, else those installed with the course."""
    return Path(os.environ.get(SOURCE_ENV) or COURSE)


def _notebooks(source: Path) -> list[Path]:
    try:
        return sorted(p for p in Path(source).rglob("*.ipynb")
                      if ".ipynb_checkpoints" not in p.parts)
    except OSError:
        return []


def _read(path: Path):  # -> nbformat.NotebookNode | None
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _without_markers(text: str) -> str:
    lines = [line for line in text.splitlines()
             if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    return "\n".join(lines).strip("\n")


def model_answer(exercise_id: str, source: Path | None = None) -> ModelAnswer:
    """The model solution or model answer of one exercise, from the course sources.

    Raises :class:`SolutionRefused` when the sources installed here hold none (a class's
    learner image carries the student versions only) and :class:`CourseError` for an
    unknown exercise."""
    if exercise_id not in learner_exercises():
        raise CourseError(f"unknown exercise {exercise_id!r} "
                          f"(exercises: {', '.join(learner_exercises())})")
    source = Path(source or source_folder())
    notebooks = [(p, nb) for p in _notebooks(source) if (nb := _read(p)) is not None]
    if not notebooks:
        raise SolutionRefused(f"the course sources are not readable here ({source}), so there"
                              " is no model solution to show; in a class, ask your instructor")
    written = written_answers().get(exercise_id)
    found = (_written(exercise_id, written, notebooks) if written
             else _code(exercise_id, notebooks))
    if found is None:
        raise SolutionRefused(f"no model solution for {exercise_id} in the course sources "
                              f"installed here ({source}); in a class, ask your instructor")
    return found


def _written(exercise_id: str, grade_id: str, notebooks) -> ModelAnswer | None:
    for path, nb in notebooks:
        for cell in nb.cells:
            if _meta(cell).get("grade_id") == grade_id:
                blocks = solution_blocks(cell.source)
                if not any(blocks):
                    return None
                return ModelAnswer(exercise_id, "written", "\n\n".join(blocks), path,
                                   (grade_id,))
    return None


def _code(exercise_id: str, notebooks) -> ModelAnswer | None:
    call = re.compile(r"""check\(\s*["']""" + re.escape(exercise_id)
                      + r"""["']\s*,\s*([A-Za-z_]\w*)""")
    for path, nb in notebooks:
        for index, cell in enumerate(nb.cells):
            meta = _meta(cell)
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            match = call.search(_HIDDEN.sub("", cell.source))
            if match:
                return _solution_cells(exercise_id, path, nb.cells[:index], match.group(1))
    return None


def _solution_cells(exercise_id: str, path: Path, before: list, name: str) -> ModelAnswer | None:
    """The solution cells before the test cell, back to the one that defines ``name``."""
    chosen = []
    defines = re.compile(rf"^\s*def {re.escape(name)}\s*\(", re.M)
    for cell in reversed(before):
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        chosen.insert(0, cell)
        if defines.search(cell.source):
            break
    else:
        return None
    if not any("### BEGIN SOLUTION" in c.source for c in chosen):
        return None  # student versions only: the solution was replaced by a stub
    text = "\n\n".join(_without_markers(c.source) for c in chosen)
    return ModelAnswer(exercise_id, "code", text, path,
                       tuple(_meta(c).get("grade_id", "") for c in chosen))


# --- the learner has tried; the instructor allows it -------------------------------------


def workspace_folder() -> Path | None:
    """The learner's workspace: ``$PRIVACY_COURSE_WORKSPACE``, else the folder of the
    progress file (:func:`grading.selfcheck.progress_path`), else None."""
    from grading.selfcheck import WORKSPACE_MARKER, progress_path
    from grading.workspace import WORKSPACE_ENV

    if os.environ.get(WORKSPACE_ENV):
        return Path(os.environ[WORKSPACE_ENV])
    path = progress_path()
    if path is not None and path.parent.name == WORKSPACE_MARKER:
        return path.parent.parent
    return None


def turned_off(workspace: Path | None) -> str | None:
    """Why model solutions are off here (the instructor's setting), or None."""
    from grading.selfcheck import WORKSPACE_MARKER

    if os.environ.get(SOLUTIONS_ENV, "").strip().lower() in OFF:
        return f"your instructor turned model solutions off for this class ({SOLUTIONS_ENV})"
    if workspace is not None:
        settings = Path(workspace) / WORKSPACE_MARKER / SETTINGS_NAME
        if settings.is_file():
            data = read_toml(settings, CourseError, "course settings file")
            if data.get("solutions", True) is False:
                return f"model solutions are turned off for this course ({settings})"
    return None


def _passed(exercise_id: str, progress: Path | None) -> bool:
    from grading.selfcheck import load_progress

    if progress is None:
        return False
    entry = load_progress(progress)["exercises"].get(exercise_id, {}).get("visible") or {}
    return bool(entry.get("ever_passed") or entry.get("passed"))


def _template(cell) -> str:
    """The student version of a written answer's cell, as nbgrader makes it."""
    import nbformat
    from nbgrader.preprocessors import ClearSolutions
    from traitlets.config import Config

    from grading.nbgrader_config import settings

    config = Config({"ClearSolutions": settings(Path("."))["ClearSolutions"]})
    nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(cell))])
    nb, _ = ClearSolutions(config=config).preprocess(nb, {"language": "python"})
    return nb.cells[0].source


def _normal(text: str) -> str:
    return " ".join(text.split())


def written_own_answer(model: ModelAnswer, workspace: Path | None,
                       source_cell=None) -> bool:
    """True when a saved notebook in the workspace holds the learner's own text in the
    written answer's cell: not empty and not the student template."""
    if workspace is None or not Path(workspace).is_dir():
        return False
    grade_id = model.cells[0]
    if source_cell is None:
        nb = _read(model.notebook)
        source_cell = next((c for c in nb.cells if _meta(c).get("grade_id") == grade_id), None)
    template = _normal(_template(source_cell)) if source_cell is not None else ""
    for path in _notebooks(Path(workspace)):
        if ".privacy-course" in path.parts:
            continue
        nb = _read(path)
        for cell in nb.cells if nb is not None else []:
            if _meta(cell).get("grade_id") == grade_id:
                answer = _normal(cell.source)
                if answer and answer != template and re.search(r"\w", answer):
                    return True
    return False


def show_solution(exercise_id: str, *, progress: Path | None = None,
                  workspace: Path | None = None, source: Path | None = None) -> ModelAnswer:
    """The model answer, if the learner may see it now; else :class:`SolutionRefused`
    saying what to do first. ``progress`` and ``workspace`` default to the learner's."""
    from grading.selfcheck import PROGRESS_NAME, WORKSPACE_MARKER, progress_path

    if workspace is None:
        workspace = workspace_folder()
    if progress is None:
        progress = (Path(workspace) / WORKSPACE_MARKER / PROGRESS_NAME if workspace is not None
                    else progress_path())
    off = turned_off(workspace)
    if off:
        raise SolutionRefused(f"no model solution for {exercise_id}: {off}. Your feedback "
                              "and your instructor are the way to compare.")
    if exercise_id not in learner_exercises():
        model_answer(exercise_id, source)  # the clear error for an unknown id
    if exercise_id in written_answers():
        model = model_answer(exercise_id, source)
        if not written_own_answer(model, workspace):
            raise SolutionRefused(
                f"write your own answer for {exercise_id} first: type it into its answer "
                f"cell in {model.notebook.name} and save the notebook (Ctrl-S); then the "
                "model answer and its rubric are shown, to grade yourself with.")
        return model
    if progress is None:
        raise SolutionRefused(
            f"no model solution for {exercise_id} outside your workspace: nothing records "
            "your self-check here. Open the notebook in your workspace (`privacy-course "
            "start`), pass its check, then ask again.")
    if not _passed(exercise_id, progress):
        raise SolutionRefused(
            f"pass your self-check for {exercise_id} first: run the cell with "
            f"`check({exercise_id!r}, ...)` under your function until it passes; the model "
            f"solution is for comparing afterwards. Stuck? `hint({exercise_id!r})` gives "
            "a nudge.")
    return model_answer(exercise_id, source)


def solution(exercise_id: str) -> Shown:
    """In a notebook: the model solution or model answer of ``exercise_id``, once you have
    tried (put it last in a cell); else what to do first."""
    try:
        return Shown(show_solution(exercise_id).markdown())
    except SolutionRefused as exc:
        return Shown(f"**Not yet:** {exc}", ok=False)
