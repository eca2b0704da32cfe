"""nbgrader preprocessors of the course."""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, Execute

from grading.checks import _short_paths
from grading.receipts import RECEIPTS_ENV, called_check, cell_verdict, read_receipts
from sandbox_cms.cms import temporary_folder


class HideHiddenTests(ClearHiddenTests):
    """For feedback: remove hidden tests from the test cells, and make every error a learner
    reads short and free of the grading machine.

    Autograding restores hidden tests into the test cells; nbgrader's ``ClearHiddenTests``
    strips them from the source, but a failing test's traceback still quotes the hidden
    lines and the grader's frames. Here a test cell's error shrinks to the exception and its
    message (``PrincipleViolation: <message>``, which names the broken principle) and the
    rule line when there is one; in every cell, absolute paths of the grading machine in an
    error are shortened to their last part.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type != "code":
            return cell, resources
        test = _is_test_cell(cell)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            output["evalue"] = _short_paths(str(output.get("evalue", "")))
            if test:
                rule = [line for line in output.get("traceback", [])
                        if line.startswith("The rule: ")]
                output["traceback"] = [f"{output.get('ename')}: {output['evalue']}", *rule[:1]]
            else:
                output["traceback"] = [_short_paths(line) for line in output.get("traceback", [])]
        return cell, resources


# --- the verdict decided outside the learner's kernel ---------------------------------


class VerifiedExecute(Execute):
    """nbgrader's Execute step, with every ``check()`` test cell's grade confirmed by the
    grading process itself (see :mod:`grading.receipts`).

    Before the kernel starts, a fresh receipts folder is chosen and passed to the kernel as
    ``$PRIVACY_COURSE_RECEIPTS``. After each code cell the folder's new attempt folders are
    collected; for a graded test cell that passed in the kernel they are re-checked here, and
    a cell whose pass the re-check does not confirm gets one error output saying its grade
    was forged. Only that cell loses its points. Nothing in the learner's cells is read:
    shell and pip magics, ``%%time``, helpers of any name and plotting cost nothing.

    A confirmed pass also keeps its points when the learner's code wrote to stderr (a
    library warning): that output becomes ordinary text, since nbgrader would otherwise
    read any stderr as a failed test.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict,
                   km: Any = None) -> tuple[NotebookNode, ResourcesDict]:
        # named after this process, so a grading run killed midway leaves nothing behind
        folder = temporary_folder("grading-receipts-")
        previous = os.environ.get(RECEIPTS_ENV)
        os.environ[RECEIPTS_ENV] = str(folder)
        self._receipts = folder
        self.forged: list[str] = []
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            if previous is None:
                os.environ.pop(RECEIPTS_ENV, None)
            else:
                os.environ[RECEIPTS_ENV] = previous
            shutil.rmtree(folder, ignore_errors=True)
        if self.forged:
            self.log.warning("forged grades in test cells: %s", ", ".join(self.forged))
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources: ResourcesDict,
                        index: int) -> tuple[NotebookNode, ResourcesDict]:
        before = self._listing()
        shown = cell.source
        if cell.cell_type == "code" and _is_test_cell(cell):
            cell.source = grader_check(shown)
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = shown
        new = sorted(self._listing() - before)
        try:
            if cell.cell_type == "code" and _is_test_cell(cell):
                self._confirm(cell, index, new)
        finally:
            for path in new:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        path.unlink()
        return cell, resources

    def _listing(self) -> set[Path]:
        """What is in the receipts folder now (made again if learner code removed it, so a
        removed folder costs the cells that needed a receipt, not the whole notebook)."""
        try:
            self._receipts.mkdir(parents=True, exist_ok=True)
            return set(self._receipts.iterdir())
        except OSError:
            return set()

    def _confirm(self, cell: NotebookNode, index: int, new: list[Path]) -> None:
        passed = not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        violation = cell_verdict(cell.source, passed, read_receipts(new))
        if violation is None:
            if passed and called_check(cell.source) is not None:
                for output in cell.outputs:
                    if output.get("output_type") == "stream" and output.get("name") == "stderr":
                        output["name"] = "stdout"
            return
        self.forged.append(cell.metadata.get("nbgrader", {}).get("grade_id") or
                           f"cell {index + 1}")
        cell.outputs = [nbformat.v4.new_output(
            "error", ename="PrincipleViolation", evalue=violation.message,
            traceback=[f"PrincipleViolation: {violation.message}"],
        )]


def _is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


_GRADER_CHECK = "__import__('grading').check"


def grader_check(source: str) -> str:
    """A test cell's code as it runs during autograding: ``check`` is the grader's
    (``grading.check``), looked up when the cell runs, and the cell binds no ``check`` in
    the notebook's namespace, so a learner's own helper named ``check`` keeps working
    (and a learner's rebinding of the name changes nothing). The cell shown and stored is
    unchanged; a source that does not parse runs as it is."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source

    class _Rewrite(ast.NodeTransformer):
        def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
            if node.module == "grading" and node.level == 0:
                node.names = [a for a in node.names if not (a.name == "check" and a.asname is None)]
                if not node.names:
                    return ast.copy_location(ast.Pass(), node)
            return node

        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id == "check" and isinstance(node.ctx, ast.Load):
                return ast.copy_location(ast.parse(_GRADER_CHECK, mode="eval").body, node)
            return node

    return ast.unparse(ast.fix_missing_locations(_Rewrite().visit(tree)))
