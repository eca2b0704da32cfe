"""The ``privacy-course`` command: learner and instructor entry points.

A thin layer: each command parses options, calls :mod:`grading.course`,
:mod:`grading.workspace` or :mod:`grading.selfcheck`, and prints the result. Library errors
(:class:`sandbox_cms.core.errors.SandboxError`) become one-line messages and exit status 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from grading.nbgrader_config import COURSE_DIR, DEFAULT_CLASSROOM, SOURCE_ENV
from sandbox_cms.cli.errors import MessageGroup

CLASSROOM_ENV = "PRIVACY_COURSE_CLASSROOM"


@click.group(cls=MessageGroup)
def main() -> None:
    """Run, release and grade the privacy-engineering course."""


def _classroom_options(fn):
    fn = click.option(
        "--course", "source", type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get(SOURCE_ENV, str(COURSE_DIR)), show_default="course/",
        help="Folder with the course sources (one folder per assignment).",
    )(fn)
    return click.option(
        "--classroom", type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get(CLASSROOM_ENV, str(DEFAULT_CLASSROOM)),
        show_default="classroom/ (~/privacy-course-classroom from a wheel)",
        help="nbgrader working folder (release/, submitted/, gradebook.db); outside git.",
    )(fn)


def _classroom(classroom: Path, source: Path):
    from grading.course import Classroom

    return Classroom(classroom, source)


def _report(results) -> None:
    for r in results:
        click.echo(r.line())
    failed = [r for r in results if not r.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} steps failed (see above)")


@main.command()
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Your personal course folder (default: workspace/ in the course repo; "
                   "~/privacy-course when installed from a wheel).")
@click.option("--course", "source", type=click.Path(file_okay=False, path_type=Path),
              default=lambda: os.environ.get(SOURCE_ENV, str(COURSE_DIR)), show_default="course/",
              help="Folder with the course sources.")
@click.option("--no-browser", is_flag=True, help="Start JupyterLab without opening a browser.")
@click.option("--prepare-only", "--dry-run", "prepare_only", is_flag=True,
              help="Prepare the workspace, do not start JupyterLab.")
@click.option("--port", type=int, default=None, help="Port for JupyterLab (default: its own).")
def start(workspace: Path | None, source: Path, no_browser: bool, prepare_only: bool,
          port: int | None) -> None:
    """Prepare your workspace (student notebooks, your own sandbox) and open JupyterLab."""
    from grading.workspace import DEFAULT_WORKSPACE, launch, prepare_workspace

    report = prepare_workspace(workspace or DEFAULT_WORKSPACE, source)
    for line in report.lines():
        click.echo(line)
    if prepare_only:
        return
    click.echo("Starting JupyterLab on http://127.0.0.1 (stop it with Ctrl-C) ...")
    raise SystemExit(launch(report.workspace, open_browser=not no_browser, port=port))


@main.command()
@_classroom_options
@click.option("--no-browser", is_flag=True, help="Start JupyterLab without opening a browser.")
@click.option("--port", type=int, default=None, help="Port for JupyterLab (default: its own).")
def instruct(classroom: Path, source: Path, no_browser: bool, port: int | None) -> None:
    """Open JupyterLab on the classroom with the instructor's tools (formgrader and the rest
    of nbgrader); learners' JupyterLab (`start`) does not show them."""
    from grading.nbgrader_config import write_config_file
    from grading.workspace import launch

    room = _classroom(classroom, source)
    write_config_file(room.root, room.source, room.cell_timeout)
    click.echo(f"Starting the instructor's JupyterLab on {room.root} (stop it with Ctrl-C) ...")
    raise SystemExit(launch(room.root, open_browser=not no_browser, port=port,
                            role="instructor"))


@main.command()
@click.argument("assignment", required=False)
@_classroom_options
def release(assignment: str | None, classroom: Path, source: Path) -> None:
    """Generate the student version of ASSIGNMENT (default: every assignment)."""
    room = _classroom(classroom, source)
    _report(room.release(assignment))
    click.echo(f"student versions: {room.root / 'release'}")


class _Progress:
    """A progress bar with an ETA on a terminal (stderr); one plain line per submission
    otherwise."""

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self._started = self._clock()
        self._tty = click.get_text_stream("stderr").isatty()

    def __call__(self, done: int, total: int, result) -> None:
        elapsed = self._clock() - self._started
        eta = elapsed / done * (total - done) if done else 0.0
        if not self._tty:
            click.echo(f"[{done}/{total}] {result.line()}", err=True)
            return
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        click.echo(f"\r[{bar}] {done}/{total}  ETA {int(eta) // 60}:{int(eta) % 60:02d} ",
                   err=True, nl=done == total)


@main.command()
@click.argument("assignment", required=False)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Submissions graded at once (default: the machine's cores).")
@click.option("--force", is_flag=True,
              help="Grade every submission again, also those unchanged since last graded.")
@_classroom_options
def grade(assignment: str | None, jobs: int | None, force: bool, classroom: Path,
          source: Path) -> None:
    """Autograde every new or changed submission under submitted/ (of ASSIGNMENT, or all),
    each in a private copy with its kernel sandboxed, JOBS at a time."""
    room = _classroom(classroom, source)
    results = room.grade(assignment, jobs=jobs, force=force, progress=_Progress())
    for r in results:
        click.echo(r.line())
    for s in room.scores():
        if assignment in (None, s.assignment):
            manual = " (+ manual grading pending)" if s.needs_manual_grade else ""
            who = f"{s.assignment} / {s.student}"
            click.echo(f"score  {who}: {s.score:g} of {s.max_score:g}{manual}")
    failed = [r for r in results if not r.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} submissions failed to grade")


@main.command()
@click.argument("assignment", required=False)
@_classroom_options
def feedback(assignment: str | None, classroom: Path, source: Path) -> None:
    """Write HTML feedback for every autograded submission (hidden tests left out)."""
    room = _classroom(classroom, source)
    _report(room.feedback(assignment))
    click.echo(f"feedback: {room.root / 'feedback'}")


@main.command()
@click.option("--to", "dest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV file to write (default: grades.csv in the classroom folder).")
@_classroom_options
def export(dest: Path | None, classroom: Path, source: Path) -> None:
    """Export every grade to a CSV file and print its path."""
    click.echo(str(_classroom(classroom, source).export(dest)))


@main.command()
@click.option("--to", "dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write report.html and report.csv to (default: report/ in the "
                   "classroom folder).")
@_classroom_options
def report(dest: Path | None, classroom: Path, source: Path) -> None:
    """Write the class report: principles broken per exercise and learner (HTML and CSV)."""
    from grading.report import write_report

    page, table = write_report(_classroom(classroom, source), dest)
    click.echo(str(page))
    click.echo(str(table))


@main.command()
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Your course folder (default: $PRIVACY_COURSE_PROGRESS or workspace/).")
def progress(workspace: Path | None) -> None:
    """Show which exercises you passed (kept across restarts)."""
    from grading.selfcheck import PROGRESS_NAME, WORKSPACE_MARKER, progress_path, progress_rows
    from grading.workspace import DEFAULT_WORKSPACE

    if workspace is not None:
        path = workspace / WORKSPACE_MARKER / PROGRESS_NAME
    else:
        path = progress_path() or DEFAULT_WORKSPACE / WORKSPACE_MARKER / PROGRESS_NAME
    rows = progress_rows(path)
    passed = sum(r["points"] for r in rows if r["status"] == "passed")
    total = sum(r["points"] for r in rows)
    for r in rows:
        mark = {"passed": "✓", "failed": "✗"}.get(r["status"], "·")
        click.echo(f"{mark} {r['id']:<28} {r['status']:<9} {r['title']}")
        if r["message"]:
            click.echo(f"    {r['message']}")
        if r.get("hints"):
            click.echo(f"    hints taken: {r['hints']}")
    _written_hint_lines(path, {r["id"] for r in rows})
    click.echo(f"{passed} of {total} points passed ({path})")


def _written_hint_lines(path: Path, shown: set[str]) -> None:
    """Hints taken for exercises the rows do not show (the written answers)."""
    from grading.selfcheck import hints_taken

    for ex_id, taken in sorted(hints_taken(path).items()):
        if ex_id not in shown and taken:
            click.echo(f"· {ex_id:<28} written   hints taken: {len(taken)}")


@main.command(name="exercises")
def list_exercises() -> None:
    """List every graded exercise with its principles and points."""
    from grading.harness import exercises

    for ex in exercises().values():
        named = ", ".join(ex.principles) if ex.names_principle else "(recognise it yourself)"
        click.echo(f"{ex.id:<28} {ex.points:>2} pt  {named:<32} {ex.title}")


def _progress_file(workspace: Path | None) -> Path:
    from grading.selfcheck import PROGRESS_NAME, WORKSPACE_MARKER, progress_path
    from grading.workspace import DEFAULT_WORKSPACE

    if workspace is not None:
        return workspace / WORKSPACE_MARKER / PROGRESS_NAME
    return progress_path() or DEFAULT_WORKSPACE / WORKSPACE_MARKER / PROGRESS_NAME


@main.command()
@click.argument("exercise")
@click.option("--all-taken", is_flag=True,
              help="Show the hints you already took, without taking another.")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Your course folder (default: $PRIVACY_COURSE_PROGRESS or workspace/).")
def hint(exercise: str, all_taken: bool, workspace: Path | None) -> None:
    """Show the next hint for EXERCISE (a nudge first, the approach last; never the
    answer); it is recorded in your progress."""
    from grading.hints import take_hint, taken_hints

    path = _progress_file(workspace)
    click.echo(str(taken_hints(exercise, path) if all_taken else take_hint(exercise, path)))


@main.command()
@click.argument("exercise")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Your course folder (default: $PRIVACY_COURSE_WORKSPACE or workspace/).")
@click.option("--course", "source", type=click.Path(file_okay=False, path_type=Path),
              default=lambda: os.environ.get(SOURCE_ENV, str(COURSE_DIR)), show_default="course/",
              help="Folder with the course sources.")
def solution(exercise: str, workspace: Path | None, source: Path) -> None:
    """Show the model solution of EXERCISE once your self-check passed (a written answer:
    its model answer and rubric once you saved your own answer); refused before, and
    where your instructor turned solutions off."""
    from grading.solutions import show_solution, workspace_folder
    from grading.workspace import DEFAULT_WORKSPACE

    folder = workspace or workspace_folder() or DEFAULT_WORKSPACE
    click.echo(show_solution(exercise, workspace=folder, source=source).markdown())
