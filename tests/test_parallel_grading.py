"""Isolated, parallel grading: the same class graded sequentially and with ``--jobs 2``.

One set of submissions of the fixture assignment ``tests/fixtures/course/00-warmup``
(correct, partly wrong, empty, wrong, and hostile ones) is graded in two classrooms that
share the class's hidden-variant parameters: once with one worker, once with two. Scores,
every cell's score and every cell's error must be the same; each hostile submission is
scored with a reason; no submission changes another, nor the gradebook, nor the sources.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest

from grading.course import Classroom
from grading.hidden import HIDDEN_FILE
from grading.isolation import bwrap_works, grading_user
from grading.selfcheck import PROGRESS_ENV
from sandbox_cms.data.build import cache_dir

FIXTURES = Path(__file__).parent / "fixtures"
COURSE = FIXTURES / "course"
HOSTILE = FIXTURES / "notebooks"
ASSIGNMENT = "00-warmup"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOURCE = (COURSE / ASSIGNMENT / NOTEBOOK).resolve()
TIMEOUT = 10

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

CORRECT = (HOSTILE / "correct.py").read_text()


def _hostile(root: Path) -> dict[str, str | None]:
    """Solution cells by student (None: the student version untouched)."""
    alice_nb = root / "submitted" / "alice" / ASSIGNMENT / NOTEBOOK
    hostile: dict[str, str | None] = {
        "alice": CORRECT,
        "bob": None,
        "carol": (HOSTILE / "mail_everyone.py").read_text(),
        "ivan": (HOSTILE / "endless_loop.py").read_text(),
        # 16 GiB at once (this machine has 24): only the kernel's RLIMIT_AS stops it, and
        # always the same way (a hoard grown step by step may end in MemoryError or in a
        # dead kernel, both scored 0, but not the same error twice)
        "hog": CORRECT.replace("def send_newsletter(cms):\n",
                               "def send_newsletter(cms):\n    hoard = bytearray(16 * 2**30)\n"),
        "killer": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        "wiper": CORRECT.replace(
            "    return ids", "    import os\n    os.unlink(cms.path)\n    return ids"),
        "vandal": CORRECT + (
            "\nimport glob, os\n"
            f"for path in [{str(alice_nb)!r}, *glob.glob('../../*/*/*.ipynb'),\n"
            "             *glob.glob('../../../submitted/*/*/*.ipynb'),\n"
            "             *glob.glob(os.environ.get('PRIVACY_COURSE_SHARED_CACHE', '/none')\n"
            "                        + '/*.db')]:\n"
            "    try:\n"
            "        open(path, 'w').write('{}')\n"
            "    except OSError as exc:\n"
            "        print('refused', type(exc).__name__)\n"),
        "snoop": CORRECT + f"\nprint(open({str(SOURCE)!r}).read())\n",
        # as root in a container: unmount the empty folder over the classroom, then read
        "escaper": CORRECT + (
            "\nimport ctypes, os\n"
            "print('uid', os.getuid())\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            f"folder = {str(root)!r}\n"
            "while folder != '/':  # whichever empty folder hides it\n"
            "    if libc.umount2(folder.encode(), 2) == 0:  # MNT_DETACH\n"
            "        print('unmounted', folder)\n"
            "    folder = os.path.dirname(folder)\n"
            "try:\n"
            f"    print('read', len(open({str(alice_nb)!r}).read()))\n"
            "except OSError as exc:\n"
            "    print('refused', type(exc).__name__)\n"
            "try:\n"
            "    print('shadow', len(open('/etc/shadow').read()))\n"
            "except OSError as exc:\n"
            "    print('shadow refused', type(exc).__name__)\n"),
    }
    if not bwrap_works():  # the fallback does not stop these (docs/threat-model.md)
        del hostile["vandal"], hostile["snoop"], hostile["escaper"]
    return hostile


def _cells(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def _submit(room: Classroom, student: str, solution: str | None) -> Path:
    nb = nbformat.read(room.root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    if solution is not None:
        _cells(nb)["send_newsletter"].source = solution
    dest = room.root / "submitted" / student / ASSIGNMENT
    dest.mkdir(parents=True)
    nbformat.write(nb, dest / NOTEBOOK)
    return dest / NOTEBOOK


def _class(root: Path, hidden_from: Path | None) -> Classroom:
    room = Classroom(root, COURSE, cell_timeout=TIMEOUT)
    if hidden_from is not None:  # the same class: the same hidden-variant parameters
        shutil.copy(hidden_from / HIDDEN_FILE, root / HIDDEN_FILE)
    assert [r.ok for r in room.release()] == [True]
    for student, solution in _hostile(root).items():
        _submit(room, student, solution)
    # partly right: the correct answer with its hidden test cell deleted (1 of 2 points)
    partly = _submit(room, "pat", CORRECT)
    nb = nbformat.read(partly, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                != "test_hidden"]
    nbformat.write(nb, partly)
    # the test cells edited to pass whatever the answer
    dave = _submit(room, "dave", (HOSTILE / "mail_everyone.py").read_text())
    nb = nbformat.read(dave, as_version=4)
    for grade_id in ("test_visible", "test_hidden"):
        _cells(nb)[grade_id].source = "assert True"
    nbformat.write(nb, dave)
    return room


def _digests(room: Classroom) -> dict[str, str]:
    return {str(p.relative_to(room.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((room.root / "submitted").rglob("*")) if p.is_file()}


def _templates() -> dict[str, str]:
    """The instructor's built sandboxes (the grading kernels read them, read-only)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(cache_dir().glob("*.db"))}


def _errors(room: Classroom, student: str) -> dict[str, list[str]]:
    path = room.root / "autograded" / student / ASSIGNMENT / NOTEBOOK
    if not path.exists():  # the worker failed (a dead kernel): nothing autograded
        return {}
    nb = nbformat.read(path, as_version=4)
    return {k: [o.get("ename", "") for o in c.get("outputs", []) if o.output_type == "error"]
            for k, c in _cells(nb).items() if c.cell_type == "code"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.delenv(PROGRESS_ENV, raising=False)
    source_before = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    rooms, results, before = {}, {}, {}
    first = None
    for jobs in (1, 2):
        room = _class(tmp_path_factory.mktemp(f"jobs{jobs}"), first)
        first = first or room.root
        before[jobs] = _digests(room)
        templates = _templates()
        results[jobs] = {r.student: r for r in room.grade(jobs=jobs)}
        rooms[jobs] = room
        # the vandal tried to empty every template it could see: each is unchanged and whole
        after = _templates()
        assert {k: after.get(k) for k in templates} == templates
        for path in cache_dir().glob("*.db"):
            with sqlite3.connect(path) as db:
                assert db.execute("SELECT count(*) FROM customers").fetchone()[0] > 0
    yield rooms, results, before, source_before
    mp.undo()


def test_sequential_and_parallel_give_the_same_grades(graded):
    rooms, _, _, _ = graded
    one, two = rooms[1], rooms[2]
    scores = {s.student: (s.score, s.max_score) for s in one.scores()}
    assert scores == {s.student: (s.score, s.max_score) for s in two.scores()}
    for student in scores:
        assert one.cell_scores(ASSIGNMENT, student) == two.cell_scores(ASSIGNMENT, student)
        assert _errors(one, student) == _errors(two, student), student
    assert scores["alice"] == (2.0, 2.0)
    if "escaper" in scores:  # its attempts changed nothing, its answer is right
        assert scores["escaper"] == (2.0, 2.0)
    assert scores["pat"] == (1.0, 2.0)
    assert scores["wiper"][0] < 2.0  # its sandbox went during the test
    for student in ("bob", "carol", "dave", "ivan", "hog", "killer"):
        assert scores[student] == (0.0, 2.0), student


def test_every_hostile_submission_is_scored_with_a_reason(graded):
    rooms, results, _, _ = graded
    for jobs in (1, 2):
        lines = {s: r.line() for s, r in results[jobs].items()}
        print("\n".join(lines.values()))
        assert lines["alice"] == "ok     grade 00-warmup / alice"
        assert "CellTimeoutError" in lines["ivan"] or "Timeout" in lines["ivan"]
        assert "test_visible: PrincipleViolation" in lines["hog"], lines["hog"]
        assert "Dead" in lines["killer"] or "died" in lines["killer"], lines["killer"]
        assert "test cells deleted, scored 0: test_hidden" in lines["pat"]
        assert "test_visible: PrincipleViolation" in lines["dave"]
        assert "wiper" in lines and lines["wiper"] != "ok     grade 00-warmup / wiper"


def test_no_submission_changes_another_or_the_gradebook(graded):
    rooms, _, before, source_before = graded
    for jobs, room in rooms.items():
        assert _digests(room) == before[jobs]  # every submitted file as handed in
        with sqlite3.connect(room.root / "gradebook.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            handed_in = len(list((room.root / "submitted").iterdir()))
            assert db.execute("SELECT count(*) FROM submitted_assignment").fetchone()[0] \
                == handed_in >= 9
        assert _errors(room, "alice") == {"send_newsletter": [], "test_visible": [],
                                          "test_hidden": []}
    assert hashlib.sha256(SOURCE.read_bytes()).hexdigest() == source_before


@pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot make a sandbox here")
def test_the_kernel_cannot_read_the_sources_nor_write_outside_its_copy(graded):
    rooms, _, _, _ = graded
    for room in rooms.values():
        snoop = _cells(nbformat.read(room.root / "autograded" / "snoop" / ASSIGNMENT / NOTEBOOK,
                                     as_version=4))["send_newsletter"]
        assert [o.ename for o in snoop.outputs if o.output_type == "error"] == \
            ["FileNotFoundError"]
        text = nbformat.writes(nbformat.read(
            room.root / "autograded" / "snoop" / ASSIGNMENT / NOTEBOOK, as_version=4))
        assert "BEGIN HIDDEN TESTS" not in text.split('"test_hidden"')[0]
        assert "BEGIN SOLUTION" not in text
        vandal = _cells(nbformat.read(
            room.root / "autograded" / "vandal" / ASSIGNMENT / NOTEBOOK, as_version=4))
        refused = "".join(o.get("text", "") for o in vandal["send_newsletter"].outputs)
        # alice's notebook (hidden), the other submissions (hidden) and the shared
        # templates (read-only: OSError) were all out of reach
        assert "refused FileNotFoundError" in refused  # alice's notebook
        assert "refused OSError" in refused  # a template: read-only file system
        escaper = _cells(nbformat.read(
            room.root / "autograded" / "escaper" / ASSIGNMENT / NOTEBOOK, as_version=4))
        said = "".join(o.get("text", "") for o in escaper["send_newsletter"].outputs)
        assert "unmounted" not in said and "read " not in said, said
        assert "refused FileNotFoundError" in said, said
        if grading_user() is not None:  # the grader is root: the kernel is not
            assert f"uid {grading_user()[0]}\n" in said, said
            if Path("/etc/shadow").exists():
                assert "shadow refused PermissionError" in said, said


def test_unchanged_submissions_are_skipped_and_manual_grades_kept(graded):
    from nbgrader.api import Gradebook

    rooms, _, _, _ = graded
    room = rooms[2]
    again = {r.student: r for r in room.grade(jobs=2)}
    # only the submission that failed to grade (its kernel killed itself) is tried again
    assert [s for s, r in again.items() if "unchanged since last graded" not in r.line()] \
        == ["killer"]
    # an instructor overrides alice's visible test by hand; a forced re-grade keeps it
    with Gradebook(room.gradebook_url) as gb:
        grade = gb.find_grade("test_visible", ASSIGNMENT, ASSIGNMENT, "alice")
        grade.manual_score = 0.5
        grade.needs_manual_grade = False
        gb.db.commit()
    forced = {r.student: r for r in room.grade(ASSIGNMENT, jobs=2, force=True)}
    assert forced["alice"].ok
    with Gradebook(room.gradebook_url) as gb:
        grade = gb.find_grade("test_visible", ASSIGNMENT, ASSIGNMENT, "alice")
        assert (grade.manual_score, grade.needs_manual_grade) == (0.5, False)
        assert grade.auto_score == 1.0


def test_the_kernel_gets_only_its_own_assignments_seeds_and_folders(tmp_path):
    import json

    from grading.hidden import HIDDEN_ENV, write
    from grading.isolation import prepare

    root = tmp_path / "classroom"
    (root / "submitted" / "s1" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(SOURCE, root / "submitted" / "s1" / ASSIGNMENT / NOTEBOOK)
    sqlite3.connect(root / "gradebook.db").close()
    hidden = write(root / HIDDEN_FILE, {"00-newsletter-consent": {"seed": 4242},
                                        "01-minimal-extract": {"seed": 777777}})
    env = prepare(tmp_path / "w", root=root, source=COURSE.resolve(), assignment=ASSIGNMENT,
                  student="s1", hidden_file=hidden)
    seeds = Path(env[HIDDEN_ENV]).read_text()
    assert "4242" in seeds and "777777" not in seeds and "01-minimal-extract" not in seeds
    spec = json.loads((tmp_path / "w" / "jupyter" / "kernel-spec.json").read_text())
    assert str(root) in spec["hidden"] and str(COURSE.resolve()) in spec["hidden"]
    assert not any(w.startswith(str(root)) for w in spec["writable"])
    assert all(w.startswith(str((tmp_path / "w").resolve())) for w in spec["writable"])


def test_a_root_grader_runs_kernels_as_the_grading_user(monkeypatch):
    import pwd

    from grading.isolation import GRADING_USER_ENV

    monkeypatch.setattr("os.geteuid", lambda: 0)
    nobody = pwd.getpwnam("nobody")
    monkeypatch.delenv(GRADING_USER_ENV, raising=False)
    assert grading_user() == (nobody.pw_uid, nobody.pw_gid, "nobody")
    monkeypatch.setenv(GRADING_USER_ENV, str(nobody.pw_uid))
    assert grading_user() == (nobody.pw_uid, nobody.pw_gid, "nobody")
    for kept_root in ("root", "0", "no-such-account-here"):
        monkeypatch.setenv(GRADING_USER_ENV, kept_root)
        assert grading_user() is None
    monkeypatch.setattr("os.geteuid", lambda: 1000)  # not root: cannot switch
    monkeypatch.delenv(GRADING_USER_ENV)
    assert grading_user() is None
