"""The rubric and model answer beside each written answer, for the grader only.

A written answer is a manually graded cell of the source notebook; its model answer and
rubric are that cell's ``### BEGIN SOLUTION`` block (nbgrader replaces it by the learner's
answer in the student version). After autograding, :func:`add_rubrics` puts one markdown
cell right after each written answer of the autograded notebook, holding that block, so
the formgrader shows it beside the answer it grades. The cell is marked
(``metadata.privacy_course.rubric``) and :class:`DropRubrics`, the first feedback step,
removes it again: a learner's feedback never contains the model answer.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor

MARK = "privacy_course"
HEADING = ("**Rubric and model answer** (from the course source, for the grader; "
           "left out of the learner's feedback)")
_SOLUTION = re.compile(r"### BEGIN SOLUTION[^\n]*\n?(.*?)[ \t]*### END SOLUTION[^\n]*", re.S)


def solution_blocks(text: str) -> list[str]:
    """The ``### BEGIN SOLUTION`` blocks of a cell's source, each stripped."""
    return [block.strip() for block in _SOLUTION.findall(text)]


def _manual(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and (cell.get("cell_type") == "markdown" or
                                        bool(meta.get("task")))


def rubrics(source: Path) -> dict[str, str]:
    """grade_id -> the model answer and rubric of each written answer of a source notebook."""
    found = {}
    for cell in nbformat.read(source, as_version=4).cells:
        if _manual(cell):
            text = "\n\n".join(solution_blocks(cell.source)) or cell.source.strip()
            found[cell.metadata["nbgrader"]["grade_id"]] = text
    return found


def is_rubric(cell) -> bool:
    return bool(cell.get("metadata", {}).get(MARK, {}).get("rubric"))


def add_rubrics(notebook: Path, source: Path) -> int:
    """Put each written answer's rubric cell after it in ``notebook`` (again: replaced);
    returns how many were added."""
    texts = rubrics(source)
    if not texts:
        return 0
    nb = nbformat.read(notebook, as_version=4)
    cells, added = [], 0
    for cell in nb.cells:
        if is_rubric(cell):
            continue
        cells.append(cell)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if _manual(cell) and grade_id in texts:
            rubric = nbformat.v4.new_markdown_cell(f"{HEADING}\n\n{texts[grade_id]}")
            rubric.metadata[MARK] = {"rubric": True, "for": grade_id}
            cells.append(rubric)
            added += 1
    nb.cells = cells
    nbformat.write(nb, notebook)
    return added


class DropRubrics(Preprocessor):
    """Feedback step: remove the rubric cells :func:`add_rubrics` added."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not is_rubric(c)]
        return nb, resources
