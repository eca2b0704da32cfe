"""The instructor's side: release, grade, feedback and export, over nbgrader's Python API.

A :class:`Classroom` is a working folder outside git (default ``classroom/`` in the repo,
gitignored) that holds nbgrader's release/, submitted/, autograded/, feedback/ folders and
gradebook.db; the course sources stay in ``course/``. Each step runs nbgrader in-process
(the same converters as its command line, without its ~5 s start-up), once per assignment
or submission; one failure never stops the batch, and every result is reported at the end.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from grading import hidden
from grading.nbgrader_config import (
    CELL_TIMEOUT,
    COURSE_DIR,
    DEFAULT_CLASSROOM,
    make_config,
    write_config_file,
)
from grading.receipts import FORGED, UNCONFIRMED
from grading.rubric import add_rubrics
from sandbox_cms.cms import temporary_folder
from sandbox_cms.core.errors import CourseError

EXPORT_FIELDS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                 "email", "status", "raw_score", "late_submission_penalty", "score",
                 "max_score")
"""The columns of ``privacy-course export``: nbgrader's, plus ``status``."""

GRADING_STATE = "grading-state.json"
"""Per submission, the digest of what was last graded (so unchanged ones are skipped)."""


@dataclass(frozen=True)
class StepResult:
    """The outcome of one nbgrader step for one assignment (and student)."""

    step: str
    assignment: str
    student: str | None
    ok: bool
    error: str = ""

    def line(self) -> str:
        who = f"{self.assignment}" + (f" / {self.student}" if self.student else "")
        return f"{'ok    ' if self.ok else 'FAILED'} {self.step} {who}" + (
            f": {self.error}" if self.error else ""
        )


@dataclass(frozen=True)
class Score:
    """One submission's score in the gradebook."""

    assignment: str
    student: str
    score: float
    max_score: float
    needs_manual_grade: bool


def assignments_in(source: Path) -> list[str]:
    """Assignment folders in a course source folder: those that hold a notebook."""
    if not source.is_dir():
        raise CourseError(f"course folder {source} does not exist")
    return sorted(
        p.name
        for p in source.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and any(p.glob("*.ipynb"))
    )


class Classroom:
    """nbgrader's working folders for one course, with the course sources elsewhere."""

    def __init__(self, root: Path = DEFAULT_CLASSROOM, source: Path = COURSE_DIR,
                 cell_timeout: int = CELL_TIMEOUT) -> None:
        self.root = Path(root).resolve()
        self.source = Path(source).resolve()
        self.cell_timeout = cell_timeout

    # --- folders ---------------------------------------------------------------------

    @property
    def gradebook_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def assignments(self) -> list[str]:
        return assignments_in(self.source)

    def _chosen(self, assignment: str | None) -> list[str]:
        known = self.assignments()
        if assignment is None:
            if not known:
                raise CourseError(f"no assignments (folders with a notebook) in {self.source}")
            return known
        if assignment not in known:
            raise CourseError(
                f"unknown assignment {assignment!r} (known: {', '.join(known) or 'none'})"
            )
        return [assignment]

    def submissions(self, assignment: str | None = None) -> list[tuple[str, str]]:
        """``(assignment, student)`` pairs found under submitted/<student>/<assignment>/."""
        chosen = set(self._chosen(assignment))
        submitted = self.root / "submitted"
        found = []
        if submitted.is_dir():
            for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir()):
                for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
                    if assignment_dir.name in chosen:
                        found.append((assignment_dir.name, student_dir.name))
        return found

    # --- nbgrader --------------------------------------------------------------------

    def _api(self):  # -> NbGraderAPI; imported lazily: nbgrader is slow to import
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        ensure_tools_on_path()
        write_config_file(self.root, self.source, self.cell_timeout)
        (self.root / "exchange").mkdir(exist_ok=True)
        config = make_config(self.root, self.source, self.cell_timeout)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        api.log.setLevel(logging.WARNING)
        return api

    def release(self, assignment: str | None = None) -> list[StepResult]:
        """Generate the student version of one assignment or of all (nbgrader
        generate_assignment): solutions replaced by stubs, hidden tests removed. The hidden
        variants' parameters are drawn for this class (once) into ``hidden-variants.toml``
        beside the gradebook, never into release/ (:mod:`grading.hidden`)."""
        chosen = self._chosen(assignment)
        self.hidden_variants()
        api = self._api()
        return [
            _result("release", a, None, _safely(api.generate_assignment, a)) for a in chosen
        ]

    def grade(self, assignment: str | None = None, jobs: int | None = None,
              force: bool = False,
              progress: Callable[[int, int, StepResult], None] | None = None,
              ) -> list[StepResult]:
        """Autograde the submissions under submitted/, ``jobs`` at a time (default: one per
        core), each in a private copy with its kernel sandboxed (:mod:`grading.isolation`).

        nbgrader autograde restores the test cells from the gradebook, so an edited test cell
        does not count. Only new or changed submissions are graded unless ``force``; the
        workers never touch the real gradebook: this process merges each result into it, so
        a parallel run writes exactly what a sequential one does. A manual grade survives a
        re-grade of an unchanged submission (not flagged as pending again). Every submission
        is bounded in time (:meth:`submission_timeout`) and memory
        (:data:`grading.isolation.MEMORY_MB`). ``progress(done, total, result)`` is called
        after each submission."""
        import concurrent.futures

        pairs = self.submissions(assignment)
        if not pairs:
            raise CourseError(f"no submissions under {self.root / 'submitted'}")
        self._api()  # the classroom's config file and folders
        if not (self.root / "gradebook.db").exists():
            raise CourseError(f"no gradebook in {self.root}: run `privacy-course release` first")
        hidden_file = self.hidden_variants()
        state = self._grading_state()
        results: dict[tuple[str, str], StepResult] = {}
        todo = []
        for a, s in pairs:
            fingerprint = self._fingerprint(a, s)
            if (not force and state.get(f"{a}/{s}") == fingerprint
                    and (self.root / "autograded" / s / a).is_dir()):
                results[(a, s)] = StepResult(
                    "grade", a, s, True, "unchanged since last graded (--force grades it again)")
            else:
                todo.append((a, s, fingerprint))
        done = 0
        for r in results.values():
            done += 1
            if progress:
                progress(done, len(pairs), r)
        from grading.isolation import Worker

        self._build_templates(sorted({a for a, _, _ in todo}), hidden_file)
        jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
        workers: queue.Queue = queue.Queue()
        for _ in range(jobs):
            workers.put(Worker())
        with contextlib.ExitStack() as stack:
            stack.callback(lambda: [workers.get().close() for _ in range(jobs)])
            # twice as many threads as workers: the next submission's private copy is made
            # while a worker grades, so no worker waits for one
            pool = stack.enter_context(
                concurrent.futures.ThreadPoolExecutor(max_workers=2 * jobs))
            running = {pool.submit(self._run_worker, workers, a, s, hidden_file): (a, s, fp)
                       for a, s, fp in todo}
            for future in concurrent.futures.as_completed(running):
                a, s, fingerprint = running[future]
                workdir, stopped = future.result()
                try:
                    result = self._merge(workdir, a, s, stopped,
                                         keep_manual=state.get(f"{a}/{s}") == fingerprint)
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                if result.ok:
                    state[f"{a}/{s}"] = fingerprint
                else:
                    state.pop(f"{a}/{s}", None)
                self._save_grading_state(state)
                results[(a, s)] = result
                done += 1
                if progress:
                    progress(done, len(pairs), result)
        return [results[pair] for pair in pairs]

    def _build_templates(self, assignments: list[str], hidden_file: Path) -> None:
        """Build the sandbox templates that these assignments' exercises start from (visible
        and this class's hidden variants) in the instructor's cache, which the grading
        kernels read but cannot write: otherwise each kernel would build them again."""
        from grading import isolation
        from grading.harness import exercises
        from sandbox_cms.data.build import cache_dir, template_path

        known = exercises()
        drawn = hidden.load(hidden_file)
        with hidden.available(hidden_file):
            for assignment in assignments:
                for exercise_id in isolation.named_exercises(self.source / assignment, known):
                    exercise = known[exercise_id]
                    names = ["visible", "hidden"] if exercise_id in drawn else ["visible"]
                    for variant in (exercise.variant(name) for name in names):
                        # a template that cannot be built fails in the kernel, with the
                        # learner's cell, as it would without this step
                        with contextlib.suppress(Exception):
                            path = template_path(variant.scenario, variant.customers,
                                                 variant.seed)
                            if path.stat().st_mode & 0o044 != 0o044:  # built before 0644
                                path.chmod(0o644)  # the kernel may run as another user
        cache = cache_dir()
        if isolation.grading_user() is not None and cache.is_dir():
            # the kernels run as another user: the cache (synthetic templates only) must be
            # searchable for it, or each kernel builds its own copies
            cache.chmod(cache.stat().st_mode | 0o055)

    def submission_timeout(self, assignment: str) -> int:
        """Seconds one submission may take: every code cell its cell timeout, plus start-up."""
        import nbformat

        cells = 0
        for path in (self.source / assignment).glob("*.ipynb"):
            with contextlib.suppress(OSError, ValueError):
                cells += sum(c.cell_type == "code"
                             for c in nbformat.read(path, as_version=4).cells)
        return self.cell_timeout * max(cells, 1) + 120

    def _run_worker(self, workers: queue.Queue, assignment: str, student: str,
                    hidden_file: Path) -> tuple[Path, str]:
        """Grade one submission in a worker process; its folder and why it was stopped."""
        from grading import isolation

        workdir = temporary_folder("grading-submission-")
        env = isolation.prepare(workdir, root=self.root, source=self.source,
                                assignment=assignment, student=student,
                                hidden_file=hidden_file, hide=[DEFAULT_CLASSROOM, COURSE_DIR])
        spec = workdir / "private" / "worker.json"
        spec.write_text(json.dumps({
            "workdir": str(workdir), "classroom": str(self.root), "source": str(self.source),
            "assignment": assignment, "student": student, "cell_timeout": self.cell_timeout,
            "env": env,
        }), encoding="utf-8")
        worker = workers.get()
        try:
            stopped = worker.grade(spec, self.submission_timeout(assignment))
        finally:
            workers.put(worker)
        return workdir, stopped

    def _merge(self, workdir: Path, assignment: str, student: str, stopped: str,
               keep_manual: bool) -> StepResult:
        """Copy one worker's result into the real classroom: its autograded notebooks and,
        in the real gradebook, the submission's scores (written by this process only)."""
        import datetime as dt

        from nbgrader.api import Gradebook

        raw = {"success": False, "error": stopped or "the grading worker left no result"}
        with contextlib.suppress(OSError, ValueError):
            raw = json.loads((workdir / "private" / "result.json").read_text(encoding="utf-8"))
        ok = bool(raw.get("success")) and not stopped
        # the worker's copy of what autograde wrote (grading.isolation._scores)
        snapshot = raw.get("notebooks") if isinstance(raw.get("notebooks"), dict) else {}
        timestamp = None
        with contextlib.suppress(TypeError, ValueError):
            timestamp = dt.datetime.fromisoformat(raw.get("timestamp"))
        dest = self.root / "autograded" / student / assignment
        shutil.rmtree(dest, ignore_errors=True)
        produced = workdir / "root" / "autograded" / student / assignment
        if ok and any(produced.glob("*.ipynb")):
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(produced, dest, symlinks=True)
            for notebook in dest.glob("*.ipynb"):  # for the formgrader; not in feedback
                if (self.source / assignment / notebook.name).is_file():
                    with contextlib.suppress(OSError, ValueError):
                        add_rubrics(notebook, self.source / assignment / notebook.name)
        with quiet_nbgrader(), Gradebook(self.gradebook_url) as gradebook:
            gradebook.update_or_create_student(student)
            submission = (gradebook.update_or_create_submission(assignment, student,
                                                                timestamp=timestamp)
                          if timestamp else
                          gradebook.update_or_create_submission(assignment, student))
            for nb in submission.notebooks:
                mine = snapshot.get(nb.name) if ok else None
                if mine:
                    nb.late_submission_penalty = mine["late"]
                for grade in nb.grades:
                    if mine:
                        auto, flagged = mine["grades"].get(grade.name, (0.0, False))
                    elif grade.cell.cell_type == "code":  # not graded: no automatic point
                        auto, flagged = 0.0, False
                    else:  # a written answer stays for the grader
                        auto, flagged = None, True
                    grade.auto_score = auto
                    if not (keep_manual and grade.manual_score is not None):
                        grade.needs_manual_grade = flagged
                for comment in nb.comments:
                    if mine:
                        comment.auto_comment = mine["comments"].get(comment.name)
            gradebook.db.commit()
        if not ok:
            error = stopped or _one_line(raw)
            if "exists in the database" in error:
                error += " (run `privacy-course release` first)"
            return StepResult("grade", assignment, student, False,
                              f"{error}; every test cell scored 0")
        notes = self.grade_notes(assignment, student)
        return StepResult("grade", assignment, student, True, notes)

    def _fingerprint(self, assignment: str, student: str) -> str:
        """A digest of a submission's files and of the assignment's sources."""
        digest = hashlib.sha256()
        for folder in (self.root / "submitted" / student / assignment, self.source / assignment):
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                digest.update(str(path.relative_to(folder)).encode() + b"\0")
                with contextlib.suppress(OSError):
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def _grading_state(self) -> dict[str, str]:
        with contextlib.suppress(OSError, ValueError):
            state = json.loads((self.root / GRADING_STATE).read_text(encoding="utf-8"))
            if isinstance(state, dict):
                return {str(k): str(v) for k, v in state.items()}
        return {}

    def _save_grading_state(self, state: dict[str, str]) -> None:
        path = self.root / GRADING_STATE
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        partial.replace(path)

    def hidden_variants(self) -> Path:
        """The class's hidden-variant parameters (drawn now for exercises that have none)."""
        from grading.harness import exercises

        known = exercises()
        return hidden.ensure_drawn(self.root, known,
                                   avoid={e.id: e.visible.seed for e in known.values()})

    def grade_notes(self, assignment: str, student: str) -> str:
        """What the instructor should know about an autograded submission: test cells the
        learner deleted, and test cells whose grade was forged (each scores 0)."""
        import nbformat

        notes = []
        for path in sorted((self.root / "autograded" / student / assignment).glob("*.ipynb")):
            try:
                graded = nbformat.read(path, as_version=4)
                source = nbformat.read(self.source / assignment / path.name, as_version=4)
            except (OSError, ValueError):
                continue
            missing = sorted(_test_cells(source) - _test_cells(graded))
            if missing:
                notes.append(f"{path.name}: test cells deleted, scored 0: {', '.join(missing)}")
            for phrase, note in ((FORGED, "grade forged"),
                                 (UNCONFIRMED, "pass not confirmed by the grader")):
                cells = [c.metadata.get("nbgrader", {}).get("grade_id", "?")
                         for c in graded.cells
                         if any(phrase in str(o.get("evalue", "")) for o in c.get("outputs", []))]
                if cells:
                    notes.append(f"{path.name}: {note}, scored 0: {', '.join(cells)} (see its "
                                 "feedback)")
            errors = [f"{c.metadata.get('nbgrader', {}).get('grade_id') or f'cell {i + 1}'}: "
                      f"{o.get('ename', 'error')}"
                      for i, c in enumerate(graded.cells) if c.cell_type == "code"
                      for o in c.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                notes.append(f"{path.name}: errors: {', '.join(errors)}")
        return "; ".join(notes)

    def feedback(self, assignment: str | None = None) -> list[StepResult]:
        """Render each autograded submission as HTML feedback (hidden tests stripped)."""
        api = self._api()
        results = []
        for a in self._chosen(assignment):
            students = sorted(
                p.parent.name for p in (self.root / "autograded").glob(f"*/{a}") if p.is_dir()
            )
            results += [
                _result("feedback", a, s, _safely(api.generate_feedback, a, s)) for s in students
            ]
        if not results:
            raise CourseError("nothing autograded yet: run `privacy-course grade` first")
        return results

    def export(self, dest: Path | None = None) -> Path:
        """Write every grade as CSV and return its path: nbgrader's columns (its CSV export)
        plus ``status``; a learner who handed nothing in is ``not submitted`` with empty
        scores, never 0.0 (nbgrader's own export cannot tell the two apart)."""
        from nbgrader.api import Gradebook, MissingEntry

        if not (self.root / "gradebook.db").exists():
            raise CourseError(f"no gradebook in {self.root}: release and grade first")
        dest = Path(dest) if dest else self.root / "grades.csv"
        dest.parent.mkdir(parents=True, exist_ok=True)
        with quiet_nbgrader(), Gradebook(self.gradebook_url) as gradebook, \
                open(dest, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(EXPORT_FIELDS)
            for a in gradebook.assignments:
                for student in gradebook.students:
                    row = {"assignment": a.name, "duedate": a.duedate or "",
                           "student_id": student.id, "last_name": student.last_name or "",
                           "first_name": student.first_name or "",
                           "email": student.email or "", "max_score": f"{a.max_score:g}",
                           "status": "not submitted", "timestamp": "", "raw_score": "",
                           "late_submission_penalty": "", "score": ""}
                    with contextlib.suppress(MissingEntry):
                        s = gradebook.find_submission(a.name, student.id)
                        penalty = s.late_submission_penalty or 0.0
                        row.update(status="submitted", timestamp=s.timestamp or "",
                                   raw_score=f"{s.score:g}",
                                   late_submission_penalty=f"{penalty:g}",
                                   score=f"{max(0.0, s.score - penalty):g}")
                    out.writerow([row[k] for k in EXPORT_FIELDS])
        return dest

    # --- reading the gradebook -------------------------------------------------------

    def scores(self) -> list[Score]:
        """Every submission's score."""
        from nbgrader.api import Gradebook

        if not (self.root / "gradebook.db").exists():
            return []
        with quiet_nbgrader(), Gradebook(self.gradebook_url) as gradebook:
            return [
                Score(s.assignment.name, s.student.id, float(s.score), float(s.max_score),
                      bool(s.needs_manual_grade))
                for a in gradebook.assignments
                for s in a.submissions
            ]

    def cell_scores(self, assignment: str, student: str) -> dict[str, float]:
        """Score per graded cell (grade_id) of one submission."""
        from nbgrader.api import Gradebook

        with quiet_nbgrader(), Gradebook(self.gradebook_url) as gradebook:
            submission = gradebook.find_submission(assignment, student)
            return {
                grade.name: float(grade.score)
                for notebook in submission.notebooks
                for grade in notebook.grades
            }


def _test_cells(nb) -> set[str]:
    """grade_ids of a notebook's autograded test cells."""
    return {
        c.metadata["nbgrader"].get("grade_id", "")
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    }


def ensure_tools_on_path() -> None:
    """Put this Python's scripts folder on PATH: nbgrader runs the ``alembic`` command to
    create a gradebook, which fails when the venv is not activated."""
    os.environ["PATH"] = with_tools(os.environ.get("PATH", ""))


def with_tools(path: str) -> str:
    """``path`` (a PATH value) with this Python's scripts folder first, if missing."""
    scripts = str(Path(sys.executable).parent)
    if scripts in path.split(os.pathsep):
        return path
    return scripts + (os.pathsep + path if path else "")


def read_grades_csv(path: Path) -> list[dict[str, str]]:
    """The rows of an exported grades CSV."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def failures(results: Iterable[StepResult]) -> list[StepResult]:
    return [r for r in results if not r.ok]


@contextlib.contextmanager
def quiet_nbgrader():
    """Silence the warnings nbgrader's own code raises (SQLAlchemy session noise), so a
    strict warnings filter (ours in tests, or ``-W error``) does not turn them into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _safely(step, *args) -> dict:
    try:
        with quiet_nbgrader():
            return step(*args)
    except Exception as exc:  # noqa: BLE001 - one bad submission never stops the batch
        return {"success": False, "error": f"{type(exc).__name__}: {exc}"}


def _result(step: str, assignment: str, student: str | None, raw: dict) -> StepResult:
    if raw.get("success"):
        return StepResult(step, assignment, student, True)
    error = _one_line(raw)
    if "exists in the database" in error:
        error += " (run `privacy-course release` first)"
    return StepResult(step, assignment, student, False, error)


def _one_line(raw: dict) -> str:
    """The most useful line of nbgrader's log or traceback: the innermost exception."""
    log = raw.get("log") or ""
    found = _EXCEPTION_LINE.findall(log) or _EXCEPTION_LINE.findall(raw.get("error") or "")
    real = [f.strip() for f in found if "NbGraderException" not in f]
    if real:
        return real[-1]
    for line in log.splitlines():
        if line.startswith(("[ERROR]", "[CRITICAL]")):
            return line.split("]", 1)[1].strip()
    return "unknown error (see nbgrader's log)"


_EXCEPTION_LINE = re.compile(r"^\s*(?:\w+\.)*\w*(?:Error|Exception|Timeout)\b:? .*$", re.M)
