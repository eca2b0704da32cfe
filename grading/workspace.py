"""Learner mode: a personal workspace with the student versions, a sandbox and progress.

``prepare_workspace`` generates the *student* versions of the course (nbgrader
generate_assignment, in a throwaway folder: neither solutions nor hidden
tests reach the workspace), copies them in, builds the learner's own sandbox and creates the
progress file. Re-running it never overwrites a notebook the learner changed: a manifest
remembers the hash of every file as it was handed out; only untouched files are updated
when the course changes. ``launch`` opens JupyterLab on the workspace, bound to 127.0.0.1.

Roles: a learner's JupyterLab shows the course, the sandbox and the CMS tile, not nbgrader's
instructor tools (formgrader, create assignment, course list), and no Assignment List unless
the learner is in a class with an exchange (``learner-in-class``); an instructor's shows them
all. Each role is a Jupyter configuration folder shipped in ``grading/roles/``, put first on
``JUPYTER_CONFIG_PATH``; nobody gets JupyterLab's news prompt. Hiding tools is not a security
boundary: what keeps learners from the solutions is that they cannot read the classroom.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grading.course import (
    StepResult,
    _result,
    _safely,
    assignments_in,
    ensure_tools_on_path,
    with_tools,
)
from grading.nbgrader_config import COURSE_DIR, make_config
from grading.selfcheck import (
    PROGRESS_ENV,
    PROGRESS_NAME,
    WORKSPACE_MARKER,
    load_progress,
    save_progress,
)
from sandbox_cms.core.datafiles import home_folder
from sandbox_cms.core.errors import CourseError

DEFAULT_WORKSPACE = home_folder("workspace")
ROLES_DIR = Path(__file__).resolve().parent / "roles"
ROLES = ("learner", "learner-in-class", "instructor")
WORKSPACE_ENV = "PRIVACY_COURSE_WORKSPACE"
SANDBOX_ENV = "SANDBOX_DB"
SANDBOX_NAME = "sandbox.db"


@dataclass
class PrepareReport:
    """What ``prepare_workspace`` did, file by file (paths relative to the workspace)."""

    workspace: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    sandbox_built: bool = False

    def lines(self) -> list[str]:
        out = [f"workspace: {self.workspace}"]
        out += [f"  new      {p}" for p in self.copied]
        out += [f"  updated  {p}" for p in self.updated]
        out += [f"  kept     {p} (you changed it; the course version was not copied)"
                for p in self.kept]
        state = "built" if self.sandbox_built else "kept"
        out.append(f"  sandbox  {state} ({SANDBOX_NAME})")
        return out


def marker_dir(workspace: Path) -> Path:
    return Path(workspace) / WORKSPACE_MARKER


def learner_env(workspace: Path) -> dict[str, str]:
    """Environment for the learner's JupyterLab: where progress and the sandbox live."""
    workspace = Path(workspace).resolve()
    return {
        WORKSPACE_ENV: str(workspace),
        PROGRESS_ENV: str(marker_dir(workspace) / PROGRESS_NAME),
        SANDBOX_ENV: str(workspace / SANDBOX_NAME),
    }


def role_config_path(role: str, existing: str | None = None) -> str:
    """``JUPYTER_CONFIG_PATH`` for ``role``: its folder, then ``common``, then ``existing``."""
    if role not in ROLES:
        raise CourseError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    dirs = [str(ROLES_DIR / role), str(ROLES_DIR / "common")]
    return os.pathsep.join(dirs + ([existing] if existing else []))


def prepare_workspace(
    workspace: Path = DEFAULT_WORKSPACE,
    source: Path = COURSE_DIR,
    assignments: list[str] | None = None,
    build_sandbox: bool = True,
) -> PrepareReport:
    """Create or refresh a workspace; never overwrite a file the learner changed."""
    workspace = Path(workspace).resolve()
    source = Path(source).resolve()
    if workspace == source or source in workspace.parents:
        raise CourseError("the workspace must not be inside the course sources")
    if workspace.exists() and not workspace.is_dir():
        raise CourseError(f"{workspace} exists and is not a folder")
    chosen = assignments or assignments_in(source)
    report = PrepareReport(workspace)
    marker = marker_dir(workspace)
    marker.mkdir(parents=True, exist_ok=True)

    # Build outside the workspace: nbgrader's gradebook keeps the hidden tests.
    build = Path(tempfile.mkdtemp(prefix="privacy-course-build-"))
    try:
        release = _student_versions(build, source, chosen)
        manifest_path = marker / "manifest.json"
        manifest = _read_json(manifest_path)
        for assignment in chosen:
            for src in sorted((release / assignment).rglob("*")):
                if src.is_file():
                    rel = src.relative_to(release).as_posix()
                    _hand_out(src, workspace / rel, rel, manifest, report)
        _write_json(manifest_path, manifest)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(marker / "build", ignore_errors=True)  # left by an earlier version

    progress = marker / PROGRESS_NAME
    if not progress.exists():
        save_progress(load_progress(progress), progress)
    if build_sandbox and not (workspace / SANDBOX_NAME).exists():
        from sandbox_cms.data.build import build_sandbox as build

        build(workspace / SANDBOX_NAME)
        report.sandbox_built = True
    return report


def _student_versions(build_root: Path, source: Path, assignments: list[str]) -> Path:
    """Generate student versions into ``build_root/release``.

    nbgrader 0.9.6 writes a gradebook even with ``GenerateAssignment.no_database`` (its
    SaveCells step ignores the flag); it holds the hidden tests, so ``build_root`` must be a
    throwaway folder outside the workspace.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    ensure_tools_on_path()
    (build_root / "exchange").mkdir(parents=True, exist_ok=True)
    config = make_config(build_root, source)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    results: list[StepResult] = [
        _result("release", a, None, _safely(api.generate_assignment, a))
        for a in assignments
    ]
    broken = [r for r in results if not r.ok]
    if broken:
        raise CourseError("; ".join(r.line() for r in broken))
    return build_root / "release"


def _hand_out(src: Path, dest: Path, rel: str, manifest: dict, report: PrepareReport) -> None:
    new_hash = _sha256(src)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        report.copied.append(rel)
    else:
        current = _sha256(dest)
        if current == new_hash:
            pass
        elif current == manifest.get(rel):  # untouched since handed out: update it
            shutil.copyfile(src, dest)
            report.updated.append(rel)
        else:
            report.kept.append(rel)
            return  # keep the manifest's old hash: the learner's file stays theirs
    manifest[rel] = new_hash


def jupyter_command(workspace: Path, open_browser: bool = True,
                    port: int | None = None) -> list[str]:
    """The command that runs JupyterLab on the workspace, bound to 127.0.0.1."""
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={workspace}",
        # A privacy course does not phone home: no news feed, no update checks.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if port:
        cmd.append(f"--ServerApp.port={port}")
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers often run as root; Jupyter refuses otherwise
    return cmd


def launch(workspace: Path, open_browser: bool = True, port: int | None = None,
           role: str = "learner") -> int:
    """Run JupyterLab on the workspace until it is stopped; returns its exit status.

    Stopping ``privacy-course start`` (Ctrl-C, or SIGTERM from a process manager) stops
    JupyterLab too, instead of leaving it serving in the background. For the instructor,
    ``workspace`` is the classroom folder (formgrader reads its ``nbgrader_config.py``)."""
    workspace = Path(workspace).resolve()
    env = server_env(workspace, role)
    return run_until_stopped(jupyter_command(workspace, open_browser, port), workspace, env)


def server_env(workspace: Path, role: str = "learner",
               base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a JupyterLab for ``role`` on ``workspace`` (a learner's workspace,
    or the instructor's classroom): role config, and for learners progress and sandbox."""
    from grading.hidden import HIDDEN_ENV

    env = dict(os.environ if base is None else base)
    if role != "instructor":
        env.update(learner_env(workspace))
        env.pop(HIDDEN_ENV, None)  # a learner's JupyterLab never gets the hidden parameters
    env["JUPYTER_CONFIG_PATH"] = role_config_path(role, env.get("JUPYTER_CONFIG_PATH"))
    # nbgrader's tools run commands of this Python (the formgrader's gradebook runs
    # `alembic`): without an activated venv they were not found (a 500 in the formgrader)
    env["PATH"] = with_tools(env.get("PATH", ""))
    return env


def run_until_stopped(cmd: list[str], cwd: Path, env: dict[str, str],
                      grace: float = 10.0) -> int:
    """Run ``cmd``; on SIGTERM or Ctrl-C ask it to stop (SIGTERM), kill it after ``grace``
    seconds. Returns its exit status (0 when stopped by Ctrl-C)."""
    import signal

    child = subprocess.Popen(cmd, cwd=cwd, env=env)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


# --- a class on JupyterHub (deploy/jupyterhub_config.py) ---------------------------------

COURSE_ID = "privacy-course"
CLASS_FOLDER = "class"
"""Where a learner's fetched assignments (and their feedback) go, inside the workspace."""


def prepare_hub_user(name: str, home: Path, role: str, *, source: Path = COURSE_DIR,
                     classroom: Path | None = None, exchange: Path | None = None,
                     run_as: tuple[int, int] | None = None,
                     set_student_id: bool = True) -> tuple[Path, dict[str, str]]:
    """What the JupyterHub spawn hook does for one user; returns the server's root folder
    and the environment to add.

    A learner gets the same preparation as ``privacy-course start`` (student versions, own
    sandbox, progress) in ``~/privacy-course``, a ``class/`` folder for fetched assignments,
    and ``~/.jupyter/nbgrader_config.py`` (course id, exchange, and the student id when all
    servers share one OS user). With ``run_as=(uid, gid)`` (a hub running as root) the student
    versions are generated by the hub into a folder the learner may read, and everything in
    the learner's home is then written by a process running as the learner: root never writes
    through a path the learner controls, and the learner never needs to read the sources.

    An instructor's server opens on the classroom (its ``nbgrader_config.py`` written, the
    instructor's own lines kept); their ``~/.jupyter/nbgrader_config.py`` loads it."""
    from grading.nbgrader_config import exchange_root, write_config_file

    home = Path(home)
    if role == "instructor":
        if classroom is None:
            raise CourseError("an instructor's server needs the classroom folder")
        root = Path(classroom).resolve()
        config = write_config_file(root, source)
        lines = [f"load_subconfig({str(config)!r})  # noqa: F821",
                 f"c.Exchange.root = {str(Path(exchange or exchange_root(root)).resolve())!r}"]
        _write_user_config(home, lines)
        return root, server_env(root, role, base={})

    root = home / "privacy-course"
    lines = [f"c.CourseDirectory.course_id = {COURSE_ID!r}",
             f"c.Exchange.assignment_dir = {str(root / CLASS_FOLDER)!r}"]
    if set_student_id:
        lines.append(f"c.CourseDirectory.student_id = {name!r}")
    if exchange is not None:
        lines.append(f"c.Exchange.root = {str(Path(exchange).resolve())!r}")
    if run_as is None:
        prepare_learner(root, Path(source), home, lines)
    else:
        with _handout(Path(source)) as student_versions:
            done = subprocess.run(
                [sys.executable, "-c", _PREPARE_AS_USER, str(root), str(student_versions),
                 str(home), json.dumps(lines)],
                user=run_as[0], group=run_as[1], extra_groups=[], cwd="/", capture_output=True,
                text=True, env={"HOME": str(home), "PATH": os.environ.get("PATH", ""),
                                "LANG": "C.UTF-8"})
            if done.returncode:
                raise CourseError(f"preparing {name}'s workspace failed: "
                                  f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return root, server_env(root, role, base={})


_PREPARE_AS_USER = (
    "import json, sys; from pathlib import Path; from grading.workspace import prepare_learner; "
    "prepare_learner(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), "
    "json.loads(sys.argv[4]))"
)


def prepare_learner(workspace: Path, source: Path, home: Path, config_lines: list[str]) -> None:
    """A learner's side of :func:`prepare_hub_user` (run as the learner on a real server)."""
    prepare_workspace(workspace, source)
    (workspace / CLASS_FOLDER).mkdir(exist_ok=True)
    _write_user_config(home, config_lines)


def _write_user_config(home: Path, lines: list[str]) -> None:
    user_config = Path(home) / ".jupyter" / "nbgrader_config.py"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text("# Written at spawn by the course's JupyterHub (grading.workspace)\n"
                           "c = get_config()  # noqa: F821\n" + "\n".join(lines) + "\n",
                           encoding="utf-8")


@contextlib.contextmanager
def _handout(source: Path) -> Iterator[Path]:
    """Student versions of ``source`` in a temporary folder anyone may read (the build
    folder, which holds nbgrader's gradebook with the hidden tests, stays private)."""
    build = Path(tempfile.mkdtemp(prefix="privacy-course-build-"))
    handout = Path(tempfile.mkdtemp(prefix="privacy-course-handout-"))
    try:
        release = _student_versions(build, source.resolve(), assignments_in(source))
        shutil.copytree(release, handout / "course")
        for folder, _dirs, files in os.walk(handout):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        yield handout / "course"
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(handout, ignore_errors=True)
