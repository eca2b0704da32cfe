"""nbgrader preprocessors of the course."""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests


class HideHiddenTests(ClearHiddenTests):
    """For feedback: remove hidden tests from the test cells *and* from their tracebacks.

    Autograding restores hidden tests into the test cells; nbgrader's ``ClearHiddenTests``
    strips them from the source, but a failing hidden test's traceback still quotes the
    hidden lines. Here such a traceback shrinks to its last line: the exception and its
    message, which names the broken principle.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        had_hidden = self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden and cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        return cell, resources
