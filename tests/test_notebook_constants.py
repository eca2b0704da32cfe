"""A notebook's module-level constants keep one value: a learner re-runs an earlier check
after later cells, so a name rebound to another value by a later cell makes a correct
earlier answer fail its self-check (seen: FOUNDATION in module 03)."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

COURSE = Path(__file__).resolve().parent.parent / "course"
NOTEBOOKS = sorted(COURSE.glob("*/*.ipynb"))


def constants(path: Path) -> dict[str, set[str]]:
    """UPPER_CASE names bound at the top level of a code cell to a literal -> their values."""
    found: dict[str, set[str]] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines()
                           if not line.lstrip().startswith(("!", "%")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.isupper():
                        found.setdefault(target.id, set()).add(repr(node.value.value))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_constant_is_rebound_to_another_value(path: Path) -> None:
    clashes = {name: values for name, values in constants(path).items() if len(values) > 1}
    assert not clashes, clashes
