"""Shorter stretches of reading (issue 12, item 6): every course notebook, measured as the
learner sees it.

A *stretch* is the markdown a learner reads between two code cells, in the student version
(a written answer's model answer is replaced by nbgrader, so it is not counted). The story and
the law come in pieces of at most ``READING_LIMIT`` words, each followed by something to run;
an exercise's task text (a cell headed ``## Exercise`` or ``## Warm-up``, with whatever
markdown follows it up to the next code cell) is reference text read while working, and
has its own, looser limit. Reading time is words / 200 a minute; each notebook's first cell
and the README table state it ("reading ≈ X min, working ≈ Y min").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from notebook_tools import COURSE, REPO, load

READING_LIMIT = 350  # words of story or law before the next hands-on step
TASK_LIMIT = 700  # words of one exercise's task text (read while working on it)
WORDS_PER_MINUTE = 200
TASK_HEADING = re.compile(r"^##\s+(Exercise|Warm-up)\b")
STATED = re.compile(r"reading ≈ (\d+) min, working ≈ (\d+)(?:–(\d+))? (min|h)")
NOTEBOOKS = sorted(COURSE.glob("*/*.ipynb"))


def words(text: str) -> int:
    """Words a reader reads: tokens with a letter or digit (table rules and bullets are not)."""
    return sum(1 for token in text.split() if re.search(r"\w", token))


def student_text(cell) -> str:
    """What the student version shows of a markdown cell (nbgrader clears a written answer)."""
    if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
        return "YOUR ANSWER HERE"
    return cell.source


@dataclass
class Stretch:
    first_cell: str
    words: int
    task: bool


def stretches(nb) -> list[Stretch]:
    """The runs of markdown between code cells; a task heading starts a run of its own."""
    runs: list[Stretch] = []
    current: Stretch | None = None
    for cell in nb.cells:
        if cell.cell_type == "code":
            current = None
            continue
        if cell.cell_type != "markdown":
            continue
        text = student_text(cell)
        name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id")
        if current is None or TASK_HEADING.match(text):
            current = Stretch(name, 0, bool(TASK_HEADING.match(text)))
            runs.append(current)
        current.words += words(text)
    return runs


def reading_minutes(nb) -> float:
    return sum(words(student_text(c)) for c in nb.cells if c.cell_type == "markdown") / (
        WORDS_PER_MINUTE)


def test_the_measure_counts_words_and_skips_markup() -> None:
    assert words("| a | b |\n|---|---|\n| art. 5(1)(e) | - |") == 4
    assert words("**Principle:** storage limitation") == 3
    nb = load(NOTEBOOKS[0])
    nb.cells = [nb.cells[0].__class__(cell_type="markdown", source="one two three",
                                      metadata={}),
                nb.cells[0].__class__(cell_type="markdown", source="## Exercise 1 · x",
                                      metadata={}),
                nb.cells[0].__class__(cell_type="code", source="x = 1", metadata={}),
                nb.cells[0].__class__(cell_type="markdown", source="four five", metadata={})]
    assert [(s.words, s.task) for s in stretches(nb)] == [(3, False), (3, True), (2, False)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_no_long_stretch_of_reading(path: Path) -> None:
    nb = load(path)
    too_long = [(s.first_cell, s.words) for s in stretches(nb)
                if s.words > (TASK_LIMIT if s.task else READING_LIMIT)]
    assert not too_long, (
        f"{path.name}: markdown stretches longer than {READING_LIMIT} words (a task text: "
        f"{TASK_LIMIT}) before the next code cell: {too_long}; split them with something "
        "to run")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_the_first_hands_on_step_comes_early(path: Path) -> None:
    nb = load(path)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    before = sum(words(student_text(c)) for c in nb.cells[:first_code]
                 if c.cell_type == "markdown")
    assert before <= READING_LIMIT, f"{path.name}: {before} words before the first code cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_the_header_states_the_measured_reading_time(path: Path) -> None:
    nb = load(path)
    stated = STATED.search(nb.cells[0].source)
    assert stated, f"{path.name}: the first cell says 'reading ≈ X min, working ≈ Y min'"
    measured = reading_minutes(nb)
    assert abs(int(stated.group(1)) - measured) <= max(3, 0.2 * measured), (
        f"{path.name}: states reading ≈ {stated.group(1)} min, measured {measured:.0f} min")
    row = next((line for line in (REPO / "README.md").read_text().splitlines()
                if line.startswith("| [") and path.name in line), None)
    assert row is not None, f"README table has no row for {path.name}"
    readme = STATED.search(row)
    assert readme and readme.groups() == stated.groups(), (
        f"README and {path.name} state different times: {readme and readme.group(0)} vs "
        f"{stated.group(0)}")
