"""What grading costs, against baselines measured in the same run.

Self-check (``check("00-newsletter-consent", fn)`` in a notebook):
- baseline: a fresh sandbox, the learner's correct function, close (no grading at all);
- ours: ``grading.harness.run`` (fresh sandbox, reference engine, the function under the
  audit witness, every check, clean-up).

Autograding one submission of the fixture assignment ``tests/fixtures/course/00-warmup``:
- ours: ``Classroom.grade`` (nbgrader's autograde converter in-process);
- baseline: the ``nbgrader autograde`` command line on the same submission (what an
  instructor would run by hand; includes its start-up).

Run: ``make bench`` (all) or ``.venv/bin/python -m benchmarks.bench_grading [--quick]``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from benchmarks.common import machine, report
from grading.course import Classroom, ensure_tools_on_path
from grading.harness import run
from sandbox_cms.cms import fresh_sandbox

REPO = Path(__file__).resolve().parent.parent
FIXTURE_COURSE = REPO / "tests" / "fixtures" / "course"
ASSIGNMENT = "00-warmup"
EXERCISE = "00-newsletter-consent"


def send_newsletter(cms):
    with cms.processing("newsletter") as p:
        rows = p.query("SELECT id FROM customers ORDER BY id")
        ids = [r["id"] for r in rows if cms.consent.may(r["id"], "newsletter").allowed]
        p.send_mailing(ids, subject="Spring offers")
    return ids


def ungraded(folder: Path) -> None:
    """The baseline of a self-check: the learner's function on a fresh sandbox, no checks."""
    cms = fresh_sandbox(customers=300, mode="record", path=folder / "plain.db")
    try:
        send_newsletter(cms)
    finally:
        cms.close()
        (folder / "plain.db").unlink()


def median_seconds(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def prepare_classroom(root: Path) -> Classroom:
    room = Classroom(root, FIXTURE_COURSE)
    assert all(r.ok for r in room.release())
    nb = nbformat.read(root / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "send_newsletter":
            cell.source = (REPO / "tests/fixtures/notebooks/correct.py").read_text()
    dest = root / "submitted" / "alice" / ASSIGNMENT
    dest.mkdir(parents=True)
    nbformat.write(nb, dest / f"{ASSIGNMENT}.ipynb")
    return room


def grade_in_process(room: Classroom) -> None:
    results = room.grade(ASSIGNMENT)
    assert all(r.ok for r in results), results


def grade_by_command(room: Classroom) -> None:
    ensure_tools_on_path()
    subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT,
         "--student", "alice", "--force"],
        cwd=room.root, check=True, capture_output=True, env=os.environ.copy(),
    )


def main(quick: bool | None = None) -> None:
    quick = "--quick" in sys.argv if quick is None else quick
    repeat, grade_repeat = (3, 1) if quick else (9, 3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    os.environ.setdefault("PRIVACY_COURSE_CACHE", str(tmp / "cache"))
    try:
        ungraded(tmp)  # warm the template cache: neither side pays for the first build
        assert run(EXERCISE, send_newsletter).passed
        plain = median_seconds(lambda: ungraded(tmp), repeat)
        graded = median_seconds(lambda: run(EXERCISE, send_newsletter), repeat)

        room = prepare_classroom(tmp / "classroom")
        grade_in_process(room)  # warm imports once
        inproc = median_seconds(lambda: grade_in_process(room), grade_repeat)
        command = median_seconds(lambda: grade_by_command(room), grade_repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report("grading", [
        machine(),
        f"self-check, 300 customers: ungraded {plain * 1000:.0f} ms, run() {graded * 1000:.0f}"
        f" ms: {graded / plain:.2f}x (median of {repeat})",
        f"autograde one submission: in-process {inproc:.1f} s, `nbgrader autograde`"
        f" {command:.1f} s: {inproc / command:.2f}x (median of {grade_repeat})",
    ], "docs/performance/grading.md")


if __name__ == "__main__":
    main()
