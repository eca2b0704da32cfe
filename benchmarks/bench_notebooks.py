"""How long the course notebooks take to run, against a baseline measured in the same run.

- baseline: a notebook with one trivial cell, executed the same way (kernel start-up and
  nbclient overhead: the floor every notebook pays);
- each solution notebook in ``course/`` (the source, with its solutions), top to bottom,
  every test cell included (visible and hidden checks);
- each graded exercise's ``check`` in-process (fresh sandbox, setup, the reference solution,
  every check), visible and hidden, against opening a fresh sandbox.

The budget is 20 s per solution notebook on this 2-core machine. Medians of ``RUNS`` runs.

Run: ``make bench`` (all benchmarks) or ``.venv/bin/python -m benchmarks.bench_notebooks
[--quick]`` (``--quick``: one run each).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from benchmarks.common import machine, report

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "course"
BUDGET_SECONDS = 20.0
RUNS = 3
# exercise id -> (notebook, solution cell, function name)
SOLUTIONS = {
    "00-newsletter-consent": ("00-orientation", "m00-warmup-solution", "send_newsletter"),
    "01-training-set": ("01-training-data", "m01-ex1-solution", "make_training_set"),
    "01-real-looking": ("01-training-data", "m01-ex2-solution", "find_real_looking"),
    "01-minimal-extract": ("01-training-data", "m01-ex3-solution", "extract_for_bug"),
    "02-transfer-plan": ("02-storage-transfers", "m02-ex1-solution", "assess_transfers"),
    "02-restorable": ("02-storage-transfers", "m02-ex2-solution", "make_restorable"),
    "03-share-with-foundation": ("03-consent-sharing", "m03-ex1-solution",
                                 "share_with_foundation"),
    "03-consent-forms": ("03-consent-sharing", "m03-ex2-solution", "review_forms"),
    "04-erasure-request": ("04-retention", "m04-ex1-solution", "erase_customer"),
    "04-retention-job": ("04-retention", "m04-ex2-solution", "retention_job"),
    "05-access-copy": ("05-access-requests", "m05-ex1-solution", "answer_access_request"),
    "05-on-time": ("05-access-requests", "m05-ex2-solution", "plan_answers"),
    "05-verify-identity": ("05-access-requests", "m05-ex3-solution", "reply_to_requests"),
    "05-pass-on-erasure": ("05-access-requests", "m05-ex4-solution", "pass_on_erasure"),
    "06-who-and-what": ("06-data-breach", "m06-ex1-solution", "find_leaked"),
    "06-notify": ("06-data-breach", "m06-ex2-solution", "decide_notifications"),
    "06-register": ("06-data-breach", "m06-ex3-solution", "write_register"),
    "07-monday-tickets": ("07-capstone", "m07-ex1-solution", "weekend_tickets"),
    "07-monday-paperwork": ("07-capstone", "m07-ex2-solution", "file_tickets"),
    "07-tuesday-mail": ("07-capstone", "m07-ex3-solution", "answer_mail"),
    "07-tuesday-inbox": ("07-capstone", "m07-ex4-solution", "reply_to_inbox"),
    "07-wednesday-goodbye": ("07-capstone", "m07-ex5-solution", "forget_customer"),
    "07-thursday-night-run": ("07-capstone", "m07-ex6-solution", "night_run"),
    "07-friday-vendors": ("07-capstone", "m07-ex7-solution", "assess_analytics"),
    "07-saturday-foundation": ("07-capstone", "m07-ex8-solution", "answer_foundation"),
}


def notebooks() -> list[Path]:
    return sorted(COURSE.glob("*/*.ipynb"))


def execute_seconds(nb: nbformat.NotebookNode, folder: Path) -> float:
    """Wall time to execute ``nb`` in a fresh python3 kernel (start-up included)."""
    started = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return time.perf_counter() - started


def median_seconds(make: callable, runs: int) -> float:
    return statistics.median(make() for _ in range(runs))


def solution_function(notebook: str, grade_id: str, name: str):
    nb = nbformat.read(COURSE / notebook / f"{notebook}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    namespace: dict = {}
    exec(compile(source, f"{notebook}:{grade_id}", "exec"), namespace)
    return namespace[name]


def main() -> None:
    runs = 1 if "--quick" in sys.argv else RUNS
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("PRIVACY_COURSE_CACHE", str(Path(tmp) / "cache"))
        os.environ["PRIVACY_COURSE_PROGRESS"] = str(Path(tmp) / "progress.json")
        from grading import hidden, run
        from grading.harness import exercises
        from sandbox_cms import fresh_sandbox

        # The hidden tests run as in the instructor's grading: parameters drawn for a class.
        known = exercises()
        os.environ[hidden.HIDDEN_ENV] = str(hidden.ensure_drawn(
            Path(tmp), known, avoid={e.id: e.visible.seed for e in known.values()}))

        # Warm the template cache so no run pays for building a scenario.
        for scenario in ("webshop", "ebooks"):
            fresh_sandbox(scenario=scenario, customers=300).close()

        trivial = new_notebook(cells=[new_code_cell("1 + 1")])
        floor = median_seconds(lambda: execute_seconds(trivial, Path(tmp)), runs)
        lines.append(f"{'baseline: trivial notebook (kernel start-up)':46} {floor:6.2f} s   1.0x")
        worst = 0.0
        for path in notebooks():
            nb = nbformat.read(path, as_version=4)
            seconds = median_seconds(lambda nb=nb, path=path: execute_seconds(
                nbformat.from_dict(nb), path.parent), runs)
            worst = max(worst, seconds)
            verdict = "within" if seconds < BUDGET_SECONDS else "OVER"
            lines.append(f"{'notebook ' + path.stem:46} {seconds:6.2f} s {seconds / floor:5.1f}x  "
                         f"({verdict} the {BUDGET_SECONDS:.0f} s budget)")

        def open_fresh() -> float:
            started = time.perf_counter()
            fresh_sandbox(scenario="webshop", customers=300).close()
            return time.perf_counter() - started

        fresh = median_seconds(open_fresh, max(runs, 5))
        lines.append(f"{'baseline: fresh_sandbox (copy + open)':46} {fresh * 1000:6.0f} ms   1.0x")
        for exercise_id, (notebook, grade_id, name) in SOLUTIONS.items():
            fn = solution_function(notebook, grade_id, name)
            for variant in ("visible", "hidden"):
                def one(fn=fn, exercise_id=exercise_id, variant=variant) -> float:
                    started = time.perf_counter()
                    outcome = run(exercise_id, fn, variant)
                    assert outcome.passed, outcome.message
                    return time.perf_counter() - started

                seconds = median_seconds(one, runs)
                label = f"check {exercise_id} ({variant})"
                lines.append(f"{label:46} {seconds * 1000:6.0f} ms {seconds / fresh:5.1f}x")
        lines.append(f"slowest notebook {worst:.2f} s of a {BUDGET_SECONDS:.0f} s budget")
    report("course notebooks", lines, machine())


if __name__ == "__main__":
    main()
