"""nbgrader preprocessors of the course."""

from __future__ import annotations

import ast
import re

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

from grading.checks import PrincipleViolation


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


# --- tampering with the grader -----------------------------------------------------------

FORBIDDEN_NAMES = frozenset({
    "__import__", "__builtins__", "exec", "eval", "compile", "setattr", "delattr",
    "globals", "locals", "get_ipython",
})
"""Names learner code never needs; each can reach into the grader's own modules or the
notebook's namespace (where the test cells find ``check``)."""

HARMLESS_MODULES = frozenset({"pandas", "numpy", "matplotlib", "seaborn"})
"""Display and analysis libraries the grader never uses: setting their options
(``pd.options.display.max_rows = 20``, ``plt.rcParams[...] = ...``) is no tampering."""

PROTECTED = frozenset({"grading", "check"})
"""Names the test cells use to reach the grader (the notebook adds what its locked cells
import from ``grading``)."""

RISKY_MAGICS = ("%run", "%load", "%%writefile", "%%file", "%%script", "%%bash", "%%sh",
                "%%python", "%system", "%sx", "%%system", "!")
"""Cell magics and shell escapes that run code the scanner cannot read."""

FORBIDDEN_MODULES = frozenset({"builtins", "importlib", "ctypes", "gc", "unittest"})
"""Modules that rewire imports, objects or memory (``unittest.mock`` patches anything)."""


def tampering(source: str, protected: frozenset[str] = PROTECTED) -> list[str]:
    """What in one learner cell's source could change the grader, in plain words.

    The test cells run in the learner's kernel, after the learner's cells; a solution
    cell that replaces ``grading.check`` (or any attribute of an imported module or
    class) would make every test pass. Flagged: assigning or deleting an attribute or
    item of something imported (or an alias of it; display options of the
    ``HARMLESS_MODULES`` excepted), ``sys.modules``, the forbidden names
    and modules above, rebinding a ``protected`` name (``check = ...`` at the top level
    or after ``global check``), and magics that run unread code. A cell that does not
    parse is scanned for those names as words.
    """
    found: list[str] = []
    lines = []
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(RISKY_MAGICS) and (
                stripped.startswith("!") or stripped.split()[0] in RISKY_MAGICS):
            found.append(f"line {number}: runs {stripped.split()[0]}")
        lines.append(_as_python(line))
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source))
        hits = sorted((FORBIDDEN_NAMES | FORBIDDEN_MODULES | {"modules"}) & words)
        return found + [f"uses {name}" for name in hits]
    found += _rebinds(tree, protected)
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            for alias in node.names:
                if (module or alias.name).split(".")[0] not in HARMLESS_MODULES:
                    imported.add(alias.asname or alias.name.split(".")[0])
    _add_aliases(tree, imported)
    for node in ast.walk(tree):
        line = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"{line}: imports {name}")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            found.append(f"{line}: uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr == "modules" and _root(node) == "sys":
            found.append(f"{line}: uses sys.modules")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [
                node.target]
            for target in targets:
                for part in ast.walk(target):
                    if (isinstance(part, ast.Attribute | ast.Subscript)
                            and _root(part) in imported):
                        verb = "deletes" if isinstance(node, ast.Delete) else "replaces"
                        found.append(f"{line}: {verb} {ast.unparse(part)}")
                        break
    return list(dict.fromkeys(found))


def _as_python(line: str) -> str:
    """A notebook line as Python: a line magic keeps its code (``%time check = f`` is
    ``check = f``); a cell magic's line and a shell escape become blank."""
    stripped = line.lstrip()
    if stripped.startswith(("%%", "!")):
        return ""
    if stripped.startswith("%"):
        indent = line[: len(line) - len(stripped)]
        parts = stripped.split(None, 1)
        return indent + (parts[1] if len(parts) > 1 else "")
    return line


def _rebinds(tree: ast.Module, protected: frozenset[str]) -> list[str]:
    """Bindings of a protected name in the notebook's namespace: at the top level of the
    cell (assignment, def, class, for, with, import from elsewhere) or through ``global``.
    A local variable of the same name inside a function is harmless and not flagged."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Global | ast.Nonlocal):
            found += [f"line {node.lineno}: declares global {name}"
                      for name in node.names if name in protected]
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        bound: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.append(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.append(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            for alias in node.names:
                source = module or alias.name
                if source.split(".")[0] != "grading":  # importing the real thing is fine
                    bound.append(alias.asname or alias.name.split(".")[0])
        found += [f"line {node.lineno}: rebinds {name}" for name in bound if name in protected]
        if not isinstance(node, scopes):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _root(node: ast.AST) -> str | None:
    """The name an attribute/item chain starts from: ``a`` in ``a.b[c].d``; through
    ``getattr(x, ...)`` and ``vars(x)`` to ``x``, but not through other calls (a call's
    result, like ``sqlite3.connect(...)``, is a new object the learner may change)."""
    while True:
        if isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "vars") and node.args):
            node = node.args[0]
        else:
            return node.id if isinstance(node, ast.Name) else None


def _add_aliases(tree: ast.AST, imported: set[str]) -> None:
    """Names bound to something imported (``h = grading.harness``) count as imported."""
    assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]
    changed = True
    while changed:
        changed = False
        for node in assigns:
            if _root(node.value) in imported:
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id not in imported:
                        imported.add(target.id)
                        changed = True


class FlagGraderTampering(NbGraderPreprocessor):
    """Autograde step (after Execute): a notebook whose learner cells could change the
    grader scores 0 on every test cell, with a message that says which line did what.

    Locked cells are restored from the gradebook before execution, so only the learner's
    own cells (unlocked or new) are read.
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        protected = PROTECTED | _grading_names(nb)
        findings = []
        for index, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and not meta.get("locked"):
                where = meta.get("grade_id") or f"cell {index + 1}"
                findings += [f"{where}, {hit}" for hit in tampering(cell.source, protected)]
        if not findings:
            return nb, resources
        violation = PrincipleViolation(
            "task",
            "your notebook changes the grader, so none of its tests count (write your "
            "function; leave grading, imports and built-ins alone)",
            findings,
        )
        self.log.warning("grader tampering: %s", violation.message)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="PrincipleViolation", evalue=violation.message,
                    traceback=[f"PrincipleViolation: {violation.message}"],
                )]
        return nb, resources


def _grading_names(nb: NotebookNode) -> frozenset[str]:
    """Names the locked cells import from ``grading`` (``check``, ``plant_canaries``)."""
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("locked"):
            continue
        lines = [_as_python(ln) for ln in cell.source.splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grading"):
                names.update(alias.asname or alias.name for alias in node.names)
    return frozenset(names)
