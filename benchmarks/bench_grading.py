"""What grading costs, against baselines measured in the same run.

Self-check (``check("00-newsletter-consent", fn)`` in a notebook):
- baseline: a fresh sandbox, the learner's correct function, close (no grading at all);
- ours: ``grading.harness.run`` (fresh sandbox, reference engine, the function under the
  audit witness, every check, clean-up).

Autograding one submission of the fixture assignment ``tests/fixtures/course/00-warmup``:
- ours: ``Classroom.grade`` (nbgrader's autograde converter in-process);
- baseline: the ``nbgrader autograde`` command line on the same submission (what an
  instructor would run by hand; includes its start-up).

A class (``--learners=N``): N learners x every module of ``course/``, each handing in the
reference solutions; in the same run, sequential ``nbgrader autograde`` (the command, one
per module) against ``privacy-course grade --jobs 2`` (isolated), ``--jobs 2`` without
bubblewrap (isolation's cost), ``--jobs 1``, and executing each notebook alone (nbclient):
the overhead per submission beyond executing it.

Run: ``make bench`` (all) or ``.venv/bin/python -m benchmarks.bench_grading [--quick]``;
the class: ``.venv/bin/python -m benchmarks.bench_grading --learners=40``; the target's
ratio alone, both sides interleaved per module: ``... --learners=40 --ratio-only``.
"""

from __future__ import annotations

import os
import re
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


# --- a class: every module, L learners, isolated --jobs 2 vs sequential nbgrader ---------


def _without_hidden_tests(source: str) -> str:
    return re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", source, flags=re.S)


def prepare_class(root: Path, learners: int) -> Classroom:
    """Every module released; each learner hands in the reference solutions (the source
    notebook with its hidden tests removed), so every test cell really runs."""
    room = Classroom(root, REPO / "course")
    assert all(r.ok for r in room.release()), "release failed"
    for assignment in room.assignments():
        for path in sorted((REPO / "course" / assignment).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                cell.source = _without_hidden_tests(cell.source)
            for k in range(learners):
                dest = root / "submitted" / f"learner{k:02d}" / assignment
                dest.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, dest / path.name)
    return room


def timed(func) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def nbgrader_sequential(room: Classroom, assignments: list[str] | None = None) -> None:
    """The baseline: the ``nbgrader autograde`` command, one per assignment (each grades
    every learner of it, one after another, in one process), as an instructor would."""
    ensure_tools_on_path()
    env = {**os.environ, "PRIVACY_COURSE_HIDDEN_VARIANTS": str(room.hidden_variants())}
    for assignment in assignments or room.assignments():
        subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment,
                        "--force"], cwd=room.root, check=True, capture_output=True, env=env)


def ours(room: Classroom, jobs: int, bwrap: bool = True,
         assignment: str | None = None) -> None:
    from grading import isolation

    previous = os.environ.get(isolation.BWRAP_ENV)
    os.environ[isolation.BWRAP_ENV] = "1" if bwrap else "0"
    isolation.bwrap_works.cache_clear()
    try:
        results = room.grade(assignment, jobs=jobs, force=True)
    finally:
        if previous is None:
            os.environ.pop(isolation.BWRAP_ENV, None)
        else:
            os.environ[isolation.BWRAP_ENV] = previous
        isolation.bwrap_works.cache_clear()
    failed = [r.line() for r in results if not r.ok]
    assert not failed, failed


def execution_only(room: Classroom) -> float:
    """Seconds to execute every module's notebook once (one learner) with nbclient in this
    process: a kernel, the cells, nothing of nbgrader's, no isolation."""
    from nbclient import NotebookClient

    from grading import hidden

    total = 0.0
    with hidden.available(room.hidden_variants()):
        for assignment in room.assignments():
            for path in sorted((room.root / "submitted" / "learner00" / assignment)
                               .glob("*.ipynb")):
                nb = nbformat.read(path, as_version=4)
                client = NotebookClient(nb, timeout=room.cell_timeout, allow_errors=True,
                                        resources={"metadata": {"path": str(path.parent)}})
                total += timed(client.execute)
    return total


def class_benchmark(learners: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-class-"))
    try:
        room = prepare_class(tmp / "classroom", learners)
        n = len(room.submissions())
        modules = len(room.assignments())
        # first (and so also the warm-up): every variant's sandbox template built once
        execute = execution_only(room) / modules
        sequential = timed(lambda: nbgrader_sequential(room))
        parallel = timed(lambda: ours(room, 2))
        unsandboxed = timed(lambda: ours(room, 2, bwrap=False))
        one = timed(lambda: ours(room, 1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [
        f"class: {learners} learners x {modules} modules = {n} submissions (reference "
        "solutions: every test cell runs)",
        f"sequential `nbgrader autograde` (one command per module): {sequential:.0f} s"
        f" ({sequential / n:.2f} s per submission)",
        f"`privacy-course grade --jobs 2` (isolated, bubblewrap): {parallel:.0f} s"
        f" ({parallel / n:.2f} s per submission): {sequential / parallel:.2f}x as fast",
        f"`--jobs 2` without bubblewrap (PRIVACY_COURSE_BWRAP=0): {unsandboxed:.0f} s;"
        f" isolation's cost {(parallel - unsandboxed) / n * 2:+.2f} s per submission"
        " (per worker)",
        f"`--jobs 1` (isolated): {one:.0f} s ({one / n:.2f} s per submission); executing"
        f" one module's notebook alone (nbclient, kernel start included): {execute:.2f} s;"
        f" overhead beyond execution {one / n - execute:+.2f} s per submission",
    ]


def class_ratio(learners: int) -> list[str]:
    """Only the target's ratio, the two sides interleaved module by module (nbgrader's
    command for a module, then ``--jobs 2`` for the same module, then the next), so a busy
    spell on a shared machine falls on both sides instead of on one whole run."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-class-"))
    sequential: dict[str, float] = {}
    parallel: dict[str, float] = {}
    try:
        room = prepare_class(tmp / "classroom", learners)
        n = len(room.submissions())
        execution_only(room)  # warm-up: every variant's sandbox template built once
        for assignment in room.assignments():
            sequential[assignment] = timed(lambda a=assignment: nbgrader_sequential(room, [a]))
            parallel[assignment] = timed(lambda a=assignment: ours(room, 2, assignment=a))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seq, par = sum(sequential.values()), sum(parallel.values())
    return [
        f"class: {learners} learners x {len(sequential)} modules = {n} submissions "
        "(reference solutions: every test cell runs); the two sides interleaved per module",
        f"sequential `nbgrader autograde`: {seq:.0f} s ({seq / n:.2f} s per submission);"
        f" `privacy-course grade --jobs 2` (isolated): {par:.0f} s ({par / n:.2f} s per"
        f" submission): {seq / par:.2f}x as fast",
        "per module (nbgrader s / ours s / ratio): " + "; ".join(
            f"{a} {sequential[a]:.0f}/{parallel[a]:.0f}/{sequential[a] / parallel[a]:.2f}x"
            for a in sequential),
    ]


def main(quick: bool | None = None) -> None:
    quick = "--quick" in sys.argv if quick is None else quick
    learners = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--learners=")),
                    None)
    if learners is not None and "--ratio-only" in sys.argv:
        report("grading a class (ratio only)", [machine(), *class_ratio(learners)],
               "docs/performance/grading.md")
        return
    if learners is not None:
        report("grading a class", [machine(), *class_benchmark(learners)],
               "docs/performance/grading.md")
        return
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
