"""The class report: which principles a class breaks, per exercise and per learner.

:func:`class_report` reads the gradebook (scores, who submitted what) and the autograded
notebooks (which test cell failed, with which message); :func:`write_report` writes one
self-contained HTML page (tables, a learners x principles heat map and score
distributions as inline SVG) and a CSV with one row per learner and assignment. A learner
who did not submit an assignment is *not submitted*, never a score of 0.

No hidden data: a test cell's source (which holds the hidden tests) is never read into the
report, and every message passes :func:`grading.checks.redact` (ids, names, e-mails, dates
and quoted values out), so a hidden failure shows what its feedback shows and no more.
"""

from __future__ import annotations

import csv
import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grading.checks import redact
from sandbox_cms.core.charts import COLOURS, Series, bar_chart, heat_map

_CHECK = re.compile(r"""check\(\s*["']([^"']+)["']""")
TOP_MESSAGES = 3


@dataclass
class Failure:
    """One failed test cell of one submission."""

    assignment: str
    student: str
    cell: str
    exercise: str
    principle: str  # a principle's title, or "" when the message names none
    message: str


@dataclass
class Submission:
    """One learner's result on one assignment (``submitted`` False: handed nothing in)."""

    assignment: str
    student: str
    submitted: bool
    score: float | None
    max_score: float
    manual_pending: bool = False
    failures: list[Failure] = field(default_factory=list)

    @property
    def principles(self) -> list[str]:
        return sorted({f.principle for f in self.failures if f.principle})


@dataclass
class ClassReport:
    """Everything the page and the CSV show."""

    assignments: list[str]
    students: list[str]
    submissions: list[Submission]
    attempts: Counter  # exercise -> submissions whose notebook ran its test

    def failures(self) -> list[Failure]:
        return [f for s in self.submissions for f in s.failures]

    def by_exercise(self) -> list[tuple[str, int, int, list[tuple[str, int]]]]:
        """(exercise, learners who broke it, learners who ran it, most common messages)."""
        rows = []
        for exercise in sorted(self.attempts):
            failed = [f for f in self.failures() if f.exercise == exercise]
            learners = len({(f.student, f.assignment) for f in failed})
            common = Counter(f.message for f in failed).most_common(TOP_MESSAGES)
            rows.append((exercise, learners, self.attempts[exercise], common))
        return rows

    def by_principle(self) -> list[tuple[str, int, list[tuple[str, int]]]]:
        """(principle, learners who broke it, most common messages), most broken first."""
        found: dict[str, list[Failure]] = {}
        for f in self.failures():
            found.setdefault(f.principle or "(no principle named)", []).append(f)
        rows = [(p, len({f.student for f in fs}),
                 Counter(f.message for f in fs).most_common(TOP_MESSAGES))
                for p, fs in found.items()]
        return sorted(rows, key=lambda r: (-r[1], r[0]))

    def to_revisit(self, student: str) -> list[str]:
        return sorted({p for s in self.submissions if s.student == student
                       for p in s.principles})


def _principle_titles() -> list[str]:
    from grading.principles import principles

    return sorted((p.title for p in principles().values()), key=len, reverse=True)


def principle_of(message: str, titles: list[str]) -> str:
    """The principle a failure message names (it starts with ``<title> (<article>):``)."""
    for title in titles:
        if message.startswith(title + " (") or message.startswith(title + ":"):
            return title
    return ""


def _failures(notebook: Path, assignment: str, student: str,
              titles: list[str]) -> tuple[list[Failure], set[str]]:
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    failures, ran = [], set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        found = _CHECK.search(cell.source)
        exercise = found.group(1) if found else meta.get("grade_id", "?")
        ran.add(exercise)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        # the message only: never the traceback (it can quote the hidden test's line)
        text = " ".join(str(errors[-1].get("evalue", "")).split())
        message = redact(text) if text else str(errors[-1].get("ename", "error"))
        failures.append(Failure(assignment, student, meta.get("grade_id", "?"), exercise,
                                principle_of(text, titles), message[:300]))
    return failures, ran


def class_report(room) -> ClassReport:
    """The report of a :class:`grading.course.Classroom` (gradebook plus autograded/)."""
    from nbgrader.api import Gradebook

    from grading.course import quiet_nbgrader

    if not (room.root / "gradebook.db").exists():
        from sandbox_cms.core.errors import CourseError

        raise CourseError(f"no gradebook in {room.root}: release and grade first")
    titles = _principle_titles()
    submissions: list[Submission] = []
    attempts: Counter = Counter()
    with quiet_nbgrader(), Gradebook(room.gradebook_url) as gradebook:
        assignments = sorted(a.name for a in gradebook.assignments)
        students = sorted(s.id for s in gradebook.students)
        for a in gradebook.assignments:
            handed_in = {s.student.id: s for s in a.submissions}
            for student in students:
                s = handed_in.get(student)
                if s is None or s.timestamp is None and not _autograded(room, a.name, student):
                    submissions.append(Submission(a.name, student, False, None,
                                                  float(a.max_score)))
                    continue
                sub = Submission(a.name, student, True, float(s.score), float(s.max_score),
                                 bool(s.needs_manual_grade))
                for path in sorted((room.root / "autograded" / student / a.name)
                                   .glob("*.ipynb")):
                    try:
                        failures, ran = _failures(path, a.name, student, titles)
                    except (OSError, ValueError):
                        continue
                    sub.failures += failures
                    attempts.update(ran)
                submissions.append(sub)
    return ClassReport(assignments, students, submissions, attempts)


def _autograded(room, assignment: str, student: str) -> bool:
    return (room.root / "autograded" / student / assignment).is_dir()


# --- writing ------------------------------------------------------------------------------


CSV_FIELDS = ("student", "assignment", "status", "score", "max_score", "manual_pending",
              "failed_exercises", "principles_to_revisit")


def write_csv(report: ClassReport, dest: Path) -> Path:
    """One row per learner and assignment; ``score`` empty when not submitted."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(CSV_FIELDS)
        for s in sorted(report.submissions, key=lambda s: (s.student, s.assignment)):
            out.writerow([
                s.student, s.assignment, "submitted" if s.submitted else "not submitted",
                "" if s.score is None else f"{s.score:g}", f"{s.max_score:g}",
                "yes" if s.manual_pending else "",
                " ".join(sorted({f.exercise for f in s.failures})), "; ".join(s.principles),
            ])
    return dest


def _e(text: object) -> str:
    return html.escape(str(text))


def heat_map_svg(report: ClassReport) -> str:
    """Learners (rows) x principles (columns): how many failed test cells named it."""
    principles = sorted({f.principle or "(no principle named)" for f in report.failures()})
    if not principles:
        return "<p>No test cell failed: nothing to map.</p>"
    count = Counter((f.student, f.principle or "(no principle named)")
                    for f in report.failures())
    return heat_map(report.students, principles, count,
                    title="Heat map: learners by principles broken",
                    desc=f"{len(report.students)} learners by {len(principles)} principles; each "
                         "cell counts the failed test cells that named the principle.")


def distribution_svg(report: ClassReport, assignment: str, bins: int = 10) -> str:
    """Histogram of one assignment's scores (as % of its maximum); not submitted apart."""
    subs = [s for s in report.submissions if s.assignment == assignment]
    scores = [s.score / s.max_score * 100 if s.max_score else 0.0
              for s in subs if s.submitted and s.score is not None]
    missing = sum(not s.submitted for s in subs)
    counts = [0] * bins
    for value in scores:
        counts[min(int(value / (100 / bins)), bins - 1)] += 1
    labels = [f"{k * 100 // bins}–{(k + 1) * 100 // bins}%" for k in range(bins)]
    return bar_chart(labels, [Series("", counts, COLOURS["blue"])],
                     title=f"Score distribution of {assignment}",
                     desc=f"{len(scores)} scored submissions in {bins} bins of the maximum "
                          f"score; not submitted: {missing}.", bar=24, height=110,
                     label_every=bins // 2, note=f"not submitted: {missing}",
                     empty=f"nothing to show: no scored submission (not submitted: {missing})")


def _messages(common: list[tuple[str, int]]) -> str:
    return "".join(f"<li>{_e(m)} <small>({n}×)</small></li>" for m, n in common)


def render_html(report: ClassReport, title: str = "Class report") -> str:
    """The whole page (no scripts, no external files: it opens offline)."""
    rows_ex = "".join(
        f"<tr><td>{_e(ex)}</td><td>{n}</td><td>{ran}</td><td><ul>{_messages(c)}</ul></td></tr>"
        for ex, n, ran, c in report.by_exercise())
    rows_pr = "".join(
        f"<tr><td>{_e(p)}</td><td>{n}</td><td><ul>{_messages(c)}</ul></td></tr>"
        for p, n, c in report.by_principle())
    head = "".join(f"<th>{_e(a)}</th>" for a in report.assignments)
    by_key = {(s.student, s.assignment): s for s in report.submissions}
    rows_st = []
    for student in report.students:
        cells = []
        for a in report.assignments:
            s = by_key.get((student, a))
            if s is None or not s.submitted:
                cells.append('<td class="missing">not submitted</td>')
            else:
                pending = " +manual" if s.manual_pending else ""
                cells.append(f"<td>{s.score:g} / {s.max_score:g}{pending}</td>")
        revisit = ", ".join(report.to_revisit(student)) or "—"
        rows_st.append(f"<tr><td>{_e(student)}</td>{''.join(cells)}<td>{_e(revisit)}</td></tr>")
    plots = "".join(f"<figure>{distribution_svg(report, a)}<figcaption>{_e(a)}</figcaption>"
                    "</figure>" for a in report.assignments)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
td, th {{ border: 1px solid #ccc; padding: .3em .6em; vertical-align: top; text-align: left; }}
td.missing {{ color: #777; font-style: italic; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
ul {{ margin: 0; padding-left: 1.2em; }}
</style></head><body>
<h1>{_e(title)}</h1>
<p>{len(report.students)} learners, {len(report.assignments)} assignments. Messages are the
ones learners read in their feedback (hidden-test details are redacted).</p>
<h2>Principles broken</h2>
<table><tr><th>principle</th><th>learners who broke it</th><th>most common messages</th></tr>
{rows_pr}</table>
<h2>Per exercise</h2>
<table><tr><th>exercise</th><th>submissions that broke it</th><th>submissions that ran it</th>
<th>most common messages</th></tr>{rows_ex}</table>
<h2>Learners × principles</h2>
{heat_map_svg(report)}
<h2>Score distributions</h2>
{plots}
<h2>Per learner</h2>
<table><tr><th>learner</th>{head}<th>principles to revisit</th></tr>{''.join(rows_st)}</table>
</body></html>
"""


def write_report(room, dest: Path | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.csv`` (default: in the classroom folder)."""
    report = class_report(room)
    dest = Path(dest) if dest else room.root / "report"
    dest.mkdir(parents=True, exist_ok=True)
    page = dest / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page, write_csv(report, dest / "report.csv")
