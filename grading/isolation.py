"""Grading one submission in a private copy, its kernel in a sandbox of its own.

``privacy-course grade`` grades each submission in a *worker*: a separate process running
nbgrader's autograde for that one submission in a temporary course root (``W``) that holds
only that learner's submission and a copy of the gradebook; the course sources are read
from their real place by the worker (a trusted process), never by the kernel. The parent
(:mod:`grading.course`) merges the worker's scores into the real gradebook; workers never
write it. Layout of ``W``::

    root/submitted/<student>/<assignment>/  the submission (a copy)
    root/autograded/<student>/<assignment>/ the kernel's working folder (read-write)
    private/gradebook.db, result.json       the worker's; hidden from the kernel
    hidden/hidden-variants.toml             only this assignment's seeds (read-only)
    kernel/{home,tmp,runtime,cache}         the kernel's own (read-write)
    kernel/shared-cache                     the instructor's built sandboxes (read-only)
    grader-tmp/                             the worker's temp folder (receipts; read-write)
    jupyter/kernels/python3/kernel.json     launches the kernel through :func:`launch_kernel`

The kernel is started by this file run as a script (stdlib only, so it starts fast): it
sets ``RLIMIT_AS`` and ``RLIMIT_CORE``, then runs the kernel under bubblewrap (``bwrap``)
when it works here: everything read-only, ``/tmp``, the classroom, the course sources and
the instructor's cache replaced by empty folders, only the folders above marked read-write
bound in, own PID, IPC and UTS namespaces (it cannot signal the grader), killed with its
parent, no capabilities. When the grader runs as root (a container, a hub's grading
account), the kernel runs as a separate unprivileged user (:data:`GRADING_USER_ENV`,
default ``nobody``) that owns only the kernel's read-write folders. Without bubblewrap the
kernel still runs in the private copy with the limits, but as the instructor's user: see
docs/threat-model.md ("Grading isolation").
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

MEMORY_MB = 2048
"""Address space one grading kernel may use (``RLIMIT_AS``), in MiB."""

BWRAP_ENV = "PRIVACY_COURSE_BWRAP"
"""Set to ``0`` to grade without bubblewrap even where it works (the benchmark's baseline)."""


GRADING_USER_ENV = "PRIVACY_COURSE_GRADING_USER"
"""The account (name or number) a grading kernel runs as when the grader runs as root;
``root`` keeps root (without capabilities). Ignored for any other grader: an unprivileged
user cannot switch users, so its kernels run as itself."""


def grading_user() -> tuple[int, int, str] | None:
    """``(uid, gid, name)`` the kernels run as: only when this process is root and the
    account exists (default ``nobody``); otherwise ``None`` (the kernel keeps our user)."""
    import pwd

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    wanted = os.environ.get(GRADING_USER_ENV, "").strip() or "nobody"
    try:
        entry = pwd.getpwuid(int(wanted)) if wanted.isdigit() else pwd.getpwnam(wanted)
    except (KeyError, ValueError):
        return None
    if entry.pw_uid == 0:
        return None
    return entry.pw_uid, entry.pw_gid, entry.pw_name


@functools.cache
def bwrap_works() -> bool:
    """Whether ``bwrap`` is installed and can make a sandbox here (user namespaces, or root)."""
    if os.environ.get(BWRAP_ENV) == "0":
        return False
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                               "--unshare-pid", "--die-with-parent", "true"],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def sandbox_command(command: list[str], *, writable: list[str], readonly: list,
                    hidden: list[str], keep: list[str], cwd: str,
                    env: dict[str, str], user: list[int] | None = None) -> list[str]:
    """The bubblewrap command line that runs ``command`` with only ``writable`` writable and
    ``hidden`` replaced by empty folders (a hidden folder holding one of ``keep`` — the
    Python installation, the code — is left visible); ``readonly`` holds paths or
    ``[source, target]`` pairs bound read-only; ``user`` (``[uid, gid]``) the account the
    command runs as (the grader must be root)."""
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--new-session"]
    if os.geteuid() == 0:
        # bubblewrap run by root keeps every capability for the command: with them a
        # kernel could unmount the empty folders that hide the classroom
        args += ["--cap-drop", "ALL"]
        if user:  # just enough to become the grading user, which then has none
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            command = [sys.executable, "-I", str(Path(__file__).resolve()), "as-user",
                       str(user[0]), str(user[1]), "--", *command]
    kept = sorted({os.path.realpath(k) for k in keep}, key=len)
    made: set[str] = set()
    masks, emptied = _masks(sorted({os.path.realpath(p) for p in hidden}, key=len), kept, made)
    args += masks
    for path in writable:
        args += [*_way(path, emptied, kept, made), "--bind", path, path]
    for pair in readonly:  # after the writable folders: a read-only file may sit inside one
        source, target = pair if isinstance(pair, (list, tuple)) else (pair, pair)
        args += [*_way(target, emptied, kept, made), "--ro-bind", source, target]
    for key, value in env.items():
        args += ["--setenv", key, value]
    # ipykernel would watch a parent it cannot see from its own PID namespace and stop at
    # once; --die-with-parent stops it with the grader instead
    args += ["--unsetenv", "JPY_PARENT_PID"]
    return [*args, "--chdir", cwd, "--", *command]


def _masks(hidden: list[str], keep: list[str], made: set[str]) -> tuple[list[str], list[str]]:
    """Arguments that empty each hidden folder as a whole (one tmpfs: nothing in it is listed,
    so files that come and go meanwhile, as in a busy /tmp, cannot break the mount), then
    bind each kept folder that lay inside one back in, read-only (the Python and the code of
    a checkout under /tmp or a home folder), then empty the hidden folders inside a kept one
    (the course sources inside the checkout); and the folders emptied."""
    outer = [h for h in hidden if os.path.isdir(h) and not any(_inside(h, k) for k in keep)]
    inner = [h for h in hidden if os.path.isdir(h) and any(_inside(h, k) for k in keep)]
    args: list[str] = []
    masked: list[str] = []
    for path in outer:
        if not any(_inside(path, m) for m in masked):
            masked.append(path)
            args += ["--tmpfs", path]
    restored: list[str] = []
    for path in keep:
        if (os.path.exists(path) and any(_inside(path, m) for m in masked)
                and not any(_inside(path, r) for r in restored)):
            restored.append(path)
            args += [*_way(path, masked, keep, made), "--ro-bind", path, path]
    for path in inner:
        args += ["--tmpfs", path]
    return args, masked + inner


def _way(target: str, emptied: list[str], kept: list[str], made: set[str]) -> list[str]:
    """Arguments that make the folders between the emptied folder holding ``target`` and
    ``target`` searchable by anyone: bubblewrap would make them 0700, and a kernel running
    as the grading user could not reach the Python under /root nor its own folders."""
    mount = max((m for m in emptied if _inside(target, m) and target != m), key=len,
                default=None)
    if mount is None or any(_inside(target, k) and _inside(k, mount) and k not in (target, mount)
                            for k in kept):  # inside a folder bound back in: it exists
        return []
    args: list[str] = []
    parts = Path(target).relative_to(mount).parts[:-1]
    for i in range(len(parts)):
        folder = str(Path(mount, *parts[:i + 1]))
        if folder not in made:
            made.add(folder)
            args += ["--perms", "0755", "--dir", folder]
    return args


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def limit_memory(megabytes: int) -> None:
    """Bound this process (and what it starts) to ``megabytes`` of address space, no core."""
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def launch_kernel(spec_path: str, command: list[str]) -> None:
    """Run as the kernel: limits, then the kernel command (in the sandbox when it works)."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    limit_memory(int(spec["memory_mb"]))
    user = spec.get("user")
    if spec["bwrap"]:
        if user:  # what the worker made since: the connection file, the receipts folder,
            for folder in spec["writable"]:  # the files nbgrader copied in beside the notebook
                _chown_tree(Path(folder), user[0], user[1])
        command = sandbox_command(command, writable=spec["writable"],
                                  readonly=spec["readonly"], hidden=spec["hidden"],
                                  keep=spec["keep"], cwd=os.getcwd(), env=spec["env"],
                                  user=user)
    else:
        os.environ.update(spec["env"])
    os.execvp(command[0], command)


def _chown_tree(folder: Path, uid: int, gid: int) -> None:
    """Give ``folder`` and everything in it to ``uid:gid`` (symbolic links themselves)."""
    os.chown(folder, uid, gid, follow_symlinks=False)
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)


def become(uid: int, gid: int, command: list[str]) -> None:
    """Run as the grading user (inside the sandbox, which left only the capabilities to
    switch): no supplementary groups, then ``command``."""
    import pwd

    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    with contextlib.suppress(KeyError):
        name = pwd.getpwuid(uid).pw_name
        os.environ.update({"USER": name, "LOGNAME": name})
    os.execvp(command[0], command)


# --- the worker: one submission ---------------------------------------------------------


def prepare(workdir: Path, *, root: Path, source: Path, assignment: str, student: str,
            hidden_file: Path, memory_mb: int = MEMORY_MB, hide: list[Path] | None = None,
            use_bwrap: bool | None = None) -> dict[str, str]:
    """Lay out ``workdir`` for one submission (copy, gradebook copy, hidden subset, kernel
    spec) and return the environment the worker runs with."""
    import sqlite3

    workdir = Path(workdir).resolve()
    for sub in ("root", "private", "hidden", "kernel/home", "kernel/tmp", "kernel/runtime",
                "kernel/cache", "grader-tmp", "jupyter/kernels/python3",
                f"root/autograded/{student}/{assignment}"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree(root / "submitted" / student / assignment,
                    workdir / "root" / "submitted" / student / assignment, symlinks=True)
    with sqlite3.connect(root / "gradebook.db") as real, \
            sqlite3.connect(workdir / "private" / "gradebook.db") as copy:
        real.backup(copy)
    real.close()
    copy.close()
    (workdir / "hidden" / hidden_file.name).write_text(
        _hidden_subset(hidden_file, source / assignment), encoding="utf-8")

    from sandbox_cms.data.build import SHARED_CACHE_ENV, cache_dir

    kernel = workdir / "kernel"
    cache = cache_dir().resolve()
    readonly: list = [str(workdir / "hidden")]
    use_bwrap = bwrap_works() if use_bwrap is None else use_bwrap
    if use_bwrap and cache.is_dir():  # the instructor's built sandboxes: one read-only bind
        # (one bind per template cost bubblewrap about 1.5 ms each: 0.8 s per kernel with
        # the 534 templates of a well-used cache)
        (kernel / "shared-cache").mkdir()
        readonly.append([str(cache), str(kernel / "shared-cache")])
    repo = Path(__file__).resolve().parent.parent
    spec = {
        "memory_mb": memory_mb,
        "bwrap": use_bwrap,
        "writable": [str(kernel), str(workdir / "grader-tmp"),
                     str(workdir / "root" / "autograded" / student / assignment)],
        "readonly": readonly,
        "hidden": [str(p) for p in [root, source, *(hide or []), Path.home(), cache,
                                    "/tmp", "/var/tmp", "/dev/shm", workdir]],
        "keep": sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix,
                                                      sys.executable, repo)}),
        "env": {"HOME": str(kernel / "home"), "TMPDIR": str(kernel / "tmp"),
                "IPYTHONDIR": str(kernel / "home" / ".ipython"),
                "MPLCONFIGDIR": str(kernel / "home" / ".mpl")},
    }
    if use_bwrap:  # without the sandbox nothing is bound there: keep the real cache
        spec["env"]["PRIVACY_COURSE_CACHE"] = str(kernel / "cache")
        spec["env"][SHARED_CACHE_ENV] = str(kernel / "shared-cache")
        user = grading_user()
        if user is not None:
            spec["user"] = [user[0], user[1]]
            # a folder the grading user may not enter (root's home holding the Python) is
            # emptied too, and the way to what lies inside it remade searchable
            spec["hidden"] += _closed_ancestors([*spec["keep"], str(workdir)])
    spec_path = workdir / "jupyter" / "kernel-spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    argv = [sys.executable, "-I", str(Path(__file__).resolve()), "kernel", str(spec_path),
            "--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (workdir / "jupyter" / "kernels" / "python3" / "kernel.json").write_text(json.dumps(
        # an interrupt (a cell's timeout) as a message: a signal would reach bwrap, not it
        {"argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
         "interrupt_mode": "message"}),
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update({
        "JUPYTER_PATH": str(workdir / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(kernel / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "TMPDIR": str(workdir / "grader-tmp"),
        "PRIVACY_COURSE_HIDDEN_VARIANTS": str(workdir / "hidden" / hidden_file.name),
    })
    return env


def _closed_ancestors(paths: list[str]) -> list[str]:
    """The folders above ``paths`` that others may not enter (no ``o+x``)."""
    closed = set()
    for path in paths:
        for folder in Path(os.path.realpath(path)).parents:
            with contextlib.suppress(OSError):
                if str(folder) != "/" and not folder.stat().st_mode & 0o001:
                    closed.add(str(folder))
    return sorted(closed)


def _hidden_subset(hidden_file: Path, assignment_source: Path) -> str:
    """The parameters of the exercises this assignment's notebooks name, as TOML."""
    from grading import hidden

    every = hidden.load(hidden_file)
    lines = []
    for exercise_id in named_exercises(assignment_source, every):
        lines += [f'[exercises."{exercise_id}"]', f"seed = {int(every[exercise_id]['seed'])}", ""]
    return "\n".join(lines) or "[exercises]\n"


def named_exercises(assignment_source: Path, known: Iterable[str]) -> list[str]:
    """The exercises of ``known`` that this assignment's notebooks name (quoted), sorted."""
    text = "".join(p.read_text(encoding="utf-8", errors="replace")
                   for p in sorted(Path(assignment_source).glob("*.ipynb")))
    return sorted(e for e in known if f'\\"{e}\\"' in text or f"'{e}'" in text)


def run_worker(spec_path: Path) -> None:
    """The worker's body: nbgrader autograde of one submission in its course root, with the
    environment :func:`prepare` chose (written into the spec)."""
    import logging
    import tempfile
    import warnings

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    workdir = Path(spec["workdir"])
    os.environ.clear()
    os.environ.update(spec["env"])
    tempfile.tempdir = None  # TMPDIR changed: the receipts folder goes into this copy
    os.chdir(workdir)
    result: dict[str, object]
    try:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        from grading.nbgrader_config import make_config

        # the real classroom's settings (the instructor's own lines too), this copy's folders
        config = make_config(Path(spec["classroom"]), Path(spec["source"]), spec["cell_timeout"])
        config.CourseDirectory.root = str(workdir / "root")
        config.CourseDirectory.db_url = f"sqlite:///{workdir / 'private' / 'gradebook.db'}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
            api.log.setLevel(logging.WARNING)
            for _ in range(KERNEL_START_TRIES):
                result = dict(api.autograde(spec["assignment"], spec["student"]))
                if not _died_at_start(result):
                    break
    except Exception as exc:  # noqa: BLE001 - reported to the parent, never raised
        result = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
    answer = {k: v for k, v in result.items() if isinstance(v, (str, bool, int))}
    with contextlib.suppress(Exception):  # no submission in the copy: the parent scores 0
        answer.update(_scores(f"sqlite:///{workdir / 'private' / 'gradebook.db'}",
                              spec["assignment"], spec["student"]))
    (workdir / "private" / "result.json").write_text(json.dumps(answer), encoding="utf-8")


def _scores(db_url: str, assignment: str, student: str) -> dict[str, object]:
    """What autograde wrote into this copy's gradebook for the submission, as JSON data
    (the parent merges it into the real gradebook without opening this copy)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as copy:
        submission = copy.find_submission(assignment, student)
        return {
            "timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
            "notebooks": {nb.name: {
                "late": nb.late_submission_penalty,
                "grades": {g.name: [g.auto_score, g.needs_manual_grade] for g in nb.grades},
                "comments": {c.name: c.auto_comment for c in nb.comments},
            } for nb in submission.notebooks},
        }


KERNEL_START_TRIES = 3
"""Autogrades of one submission when its kernel dies before it answers ``kernel_info``: no
learner code has run by then (it runs after the kernel is up), so such a death is the
machine's (a busy machine, a port taken meanwhile), never the learner's, and is retried."""


def _died_at_start(result: dict) -> bool:
    return (not result.get("success")
            and "Kernel died before replying to kernel_info" in str(result.get("error", "")))


def serve() -> None:
    """A long-lived worker: one spec path per line on stdin, ``done`` on stdout after each
    (nbgrader and the course are imported once, not once per submission)."""
    # jsonschema (under nbformat) imports rfc3987_syntax for its "iri" format check, which
    # builds a parser at import: about 1.7 s per worker. Nothing in autograding checks
    # formats, so the worker does without it (jsonschema skips a format it cannot import).
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import nbgrader.apps  # noqa: F401 - the slow imports, before the first submission

    import grading.preprocessors  # noqa: F401

    # the answers go to a private copy of stdout; what this process starts (the kernels)
    # inherits /dev/null, so learner code cannot write an answer
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    home = os.getcwd()
    for line in sys.stdin:
        if line.strip():
            run_worker(Path(line.strip()))
            os.chdir(home)
            answers.write("done\n")
            answers.flush()


class Worker:
    """The parent's handle on one :func:`serve` process; started on first use, killed and
    started again when a submission outlives its time limit."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None

    def grade(self, spec_path: Path, timeout: float) -> str:
        """Grade the submission of ``spec_path``; ``""``, or why it was stopped."""
        import threading

        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "grading.isolation", "serve"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, start_new_session=True, cwd=tempfile_dir())
        process = self._process
        timer = threading.Timer(timeout, self._kill)
        timer.start()
        try:
            process.stdin.write(f"{spec_path}\n")
            process.stdin.flush()
            answer = process.stdout.readline()
        except (OSError, ValueError):
            answer = ""
        finally:
            timer.cancel()
        if answer.strip() == "done":
            return ""
        killed = self._process is None
        self._kill()
        if killed:
            return f"stopped after {timeout:g} s (the submission's time limit)"
        return f"the grading worker ended unexpectedly (status {process.poll()})"

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the worker and any kernel it left
        process.wait()
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                stream and stream.close()

    def close(self) -> None:
        self._kill()


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


if __name__ == "__main__":
    if sys.argv[1] == "kernel":  # kernel.json: ... isolation.py kernel <spec> -- <command>
        launch_kernel(sys.argv[2], sys.argv[4:])
    elif sys.argv[1] == "as-user":  # in the sandbox: ... as-user <uid> <gid> -- <command>
        become(int(sys.argv[2]), int(sys.argv[3]), sys.argv[5:])
    elif sys.argv[1] == "worker":
        run_worker(Path(sys.argv[2]))
    elif sys.argv[1] == "serve":
        serve()
