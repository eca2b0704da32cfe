"""While a learner's function runs: notice every way around the sandbox's purpose gate.

The gate (:mod:`sandbox_cms.privacy.access`) sees only statements run on the CMS's own connection.
A learner's code runs in the same Python process, so it could read the database around it.
:func:`watching` covers, for the duration of the learner's call:

- a Python audit hook (``sys.addaudithook``): opening the sandbox's file with ``open`` or a
  second ``sqlite3.connect``, linking it, starting another program (only the documented
  ``sandbox-cms`` command is allowed: it goes through the gate; a forked child reports
  through a file beside the sandbox), loading native code with ``ctypes`` or an SQLite
  extension; and on each connection the code opens, an authorizer that notes an
  ``ATTACH`` of the sandbox's file;
- the gate's lifts (``cms.gate.lifted()``, ``scope.system``): only the CMS's own code may
  lift it; a lift started by other code is noted (on every sandbox opened on the graded
  file, also after a reconnect: ``sandbox_cms.cms.OPEN_LISTENERS``);
- a trace callback on the CMS's connection: SQL that other code runs while the gate is
  lifted is noted;
- the connection's own refusals (``gate.bypasses``: ``set_authorizer``, the backup API,
  ``serialize``, ...), and a profile function that sees the same C methods called unbound
  (``sqlite3.Connection.backup(cms.connection, ...)``); replacing it (``sys.setprofile``)
  is noted;
- afterwards, a probe: the authorizer still refuses what it must, the trace still runs.

What is noted fails the attempt naming purpose limitation (art. 5(1)(b)). A learner with
full control of the kernel can still go around all of this (docs/threat-model.md); that is
why it is detection, and why the grade comes from a fresh kernel on the instructor's side
with hidden parameters the learner never saw (:mod:`grading.hidden`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import sys
import sysconfig
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlparse

import sandbox_cms

SANDBOX_DIR = str(Path(sandbox_cms.__file__).resolve().parent) + os.sep
HERE = str(Path(__file__).resolve())
HARNESS = str(Path(__file__).resolve().with_name("harness.py"))
_STDLIB = tuple(sorted({str(Path(sysconfig.get_paths()[k]).resolve()) + os.sep
                        for k in ("stdlib", "platstdlib")}))
# Modules of the sandbox that may open the sandbox's file themselves (connect, back up).
FILE_OPENERS = tuple(SANDBOX_DIR + name for name in (
    "cms.py", os.path.join("privacy", "backup.py"), os.path.join("data", "build.py"),
    os.path.join("privacy", "storage.py")))
# Frames that are plumbing between a lift or a statement and whoever asked for it.
_PLUMBING = (SANDBOX_DIR + os.path.join("core", "scope.py"),
             SANDBOX_DIR + os.path.join("privacy", "access.py"))
ALLOWED_PROGRAMS = frozenset({"sandbox-cms"})
# Its commands that work through the CMS (the gate, the audit log); not `scan`, `seed`,
# `import` or `serve`, which open files themselves.
ALLOWED_COMMANDS = frozenset({"backup", "restore", "query", "audit", "clock", "register",
                              "locations", "retention", "dsr", "consent", "scenarios",
                              "--help", "--version"})
SHELLS = frozenset({"sh", "bash", "dash", "zsh"})
SHELL_OPERATORS = frozenset("();<>|&")
SHELL_EXPANSIONS = ("`", "$", "\n")


@dataclass
class Watch:
    """What one learner call did around the gate (``findings``, plain sentences)."""

    sandbox: Path
    paths: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    findings: list[str] = field(default_factory=list)
    busy: bool = False
    traced: list[str] = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)
    connections: list[Any] = field(default_factory=list)
    own_connections: list[Any] = field(default_factory=list)
    pending: list[Any] = field(default_factory=list)

    @property
    def report(self) -> Path:
        """Where a forked child (e.g. IPython's ``!command``) writes what it noted."""
        return self.sandbox.with_name(self.sandbox.name + ".watch")

    def note(self, finding: str) -> None:
        if os.getpid() != self.pid:  # in a child process, before exec: tell the parent
            with contextlib.suppress(OSError), open(self.report, "a", encoding="utf-8") as fh:
                fh.write(finding.replace("\n", " ") + "\n")
            return
        if finding not in self.findings:
            self.findings.append(finding)

    def collect(self) -> None:
        """Take over what forked children noted."""
        with contextlib.suppress(OSError):
            for line in self.report.read_text(encoding="utf-8").splitlines():
                self.note(line)


_ACTIVE: list[Watch] = []
_HOOKED: list[bool] = []


def _real(path: Any) -> str | None:
    try:
        text = os.fsdecode(path)
    except TypeError:
        return None
    if text.startswith("file:"):
        parsed = urlparse(text)
        text = unquote(parsed.path or text[5:].split("?", 1)[0])
    return os.path.realpath(text) if text and text != ":memory:" else None


def _is_stdlib(filename: str) -> bool:
    return filename.startswith(_STDLIB) and "site-packages" not in filename


def _asker(frame: FrameType | None, skip: tuple[str, ...] = ()) -> str:
    """The file of the first frame that is not this module, the standard library or
    ``skip``: who asked for the event."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name == HERE or _is_stdlib(name) or name.startswith(skip) or name.startswith("<frozen"):
            frame = frame.f_back
            continue
        return name
    return ""


def _own_code(filename: str) -> bool:
    """Code the learner wrote (not a library it imports, not the sandbox or the grader)."""
    return bool(filename) and "site-packages" not in filename and not filename.startswith(
        (SANDBOX_DIR, str(Path(HERE).parent) + os.sep))


def _touches_sandbox(watch: Watch, path: Any) -> bool:
    try:
        name = os.path.basename(os.fsdecode(path).split("?", 1)[0])
    except TypeError:
        return False
    return name in watch.names and _real(path) in watch.paths


def _argv(args: Any) -> list[str] | str | None:
    """A process event's command: a list of words, or a string a shell will read."""
    if isinstance(args, (str, bytes)):
        return os.fsdecode(args)
    if isinstance(args, os.PathLike):
        return [os.fsdecode(args)]
    try:
        return [os.fsdecode(a) for a in args]
    except TypeError:
        return None


def _allowed_program(command: list[str] | str | None) -> bool:
    """Only ``sandbox-cms <command that goes through the CMS>``; through a shell only when
    the line has nothing a shell would act on."""
    if isinstance(command, list) and len(command) >= 3 \
            and os.path.basename(command[0]) in SHELLS and command[1] == "-c":
        command = command[2]
    if isinstance(command, str):
        if any(mark in command for mark in SHELL_EXPANSIONS):
            return False
        try:
            lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            command = list(lexer)
        except ValueError:
            return False
        if any(word and set(word) <= SHELL_OPERATORS for word in command):
            return False  # a second command, a pipe or a redirection outside quotes
    if not command or os.path.basename(command[0]) not in ALLOWED_PROGRAMS:
        return False
    return len(command) == 1 or command[1] in ALLOWED_COMMANDS


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _ACTIVE:
        return
    watch = _ACTIVE[-1]
    if watch.busy:
        return
    refuse: str | None = None  # noted, not refused: a wrong answer keeps its own message
    watch.busy = True
    try:
        frame = sys._getframe(1)
        if event in ("open", "sqlite3.connect") and args and _touches_sandbox(watch, args[0]):
            if not _asker(frame).startswith(FILE_OPENERS):
                how = "open()" if event == "open" else "a second sqlite3.connect"
                refuse = f"opened the sandbox's database file with {how}, around the gate"
        elif event in ("os.link", "os.symlink") and args and _touches_sandbox(watch, args[0]):
            refuse = f"made a link to the sandbox's database file ({event})"
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"):
            if event == "subprocess.Popen":
                command = _argv(args[1])
            elif event == "os.spawn":
                command = _argv(args[2])
            elif event == "os.system":
                command = _argv(args[0])
            else:
                command = _argv(args[1])
            if not _allowed_program(command):
                shown = command if isinstance(command, str) else " ".join(command or ())
                watch.note(f"started another program ({shown[:60]!r}): only the sandbox-cms"
                           " command may run during the task")
        elif event == "sqlite3.connect/handle" and args \
                and not _asker(frame).startswith(SANDBOX_DIR):
            watch.pending.append(args[0])  # not usable yet: watched at its first call
        elif event in ("sys.setprofile", "threading.setprofile") and _own_code(_asker(frame)):
            watch.note("replaced the grader's profile function (sys.setprofile)")
        elif event in ("ctypes.dlopen", "sqlite3.enable_load_extension",
                       "sqlite3.load_extension") and _own_code(_asker(frame)):
            watch.note(f"loaded native code ({event}), which can read memory around the gate")
        if refuse:
            watch.note(refuse)
    except Exception:  # noqa: BLE001,S110 - the hook must never break the learner's code by accident
        pass
    finally:
        watch.busy = False


def _watch_attach(watch: Watch, conn: Any) -> None:
    """On a connection the learner's code opens: note an ``ATTACH`` of the sandbox's file
    (or of a file named only at run time); everything else is allowed."""
    def authorizer(action: int, arg1: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_ATTACH:
            path = _real(arg1) if arg1 and arg1 not in ("?",) else None
            if path is None or path in watch.paths:
                watch.note("attached the sandbox's database file to another connection")
        return sqlite3.SQLITE_OK

    sqlite3.Connection.set_authorizer(conn, authorizer)
    watch.own_connections.append(conn)


def _install_hook() -> None:
    if not _HOOKED:
        sys.addaudithook(_hook)
        _HOOKED.append(True)


@contextlib.contextmanager
def watching(cms: Any) -> Iterator[Watch]:
    """Watch the sandbox ``cms`` while the body (the learner's call) runs (also across a
    reconnect, e.g. ``cms.storage.restore``, and any other sandbox opened on the same file:
    ``sandbox_cms.cms.OPEN_LISTENERS``)."""
    path = Path(cms.path).resolve()
    files = [str(path)] + [str(path) + suffix for suffix in ("-journal", "-wal", "-shm")]
    watch = Watch(path, frozenset(os.path.realpath(f) for f in files),
                  frozenset(os.path.basename(f) for f in files))
    gates: list[tuple[Any, int]] = []

    def attach(sandbox: Any) -> None:
        gate, conn = getattr(sandbox, "gate", None), getattr(sandbox, "connection", None)
        if gate is not None:
            gate.on_lift = lambda: _lifted(watch)
            gates.append((gate, len(gate.bypasses)))
        if conn is not None:
            watch.connections.append(conn)
            sqlite3.Connection.set_trace_callback(conn, lambda sql: _traced(watch, gate, sql))

    def opened(sandbox: Any) -> None:
        with contextlib.suppress(OSError, TypeError):
            if Path(sandbox.path).resolve() == path:
                attach(sandbox)

    from sandbox_cms.cms import OPEN_LISTENERS

    attach(cms)
    OPEN_LISTENERS.append(opened)
    _install_hook()
    profile = _profiler(watch)
    previous = sys.getprofile(), threading.getprofile()
    sys.setprofile(profile)
    threading.setprofile(profile)
    _ACTIVE.append(watch)
    try:
        yield watch
    finally:
        _ACTIVE.remove(watch)
        sys.setprofile(previous[0])
        threading.setprofile(previous[1])
        with contextlib.suppress(ValueError):
            OPEN_LISTENERS.remove(opened)
        watch.collect()
        for gate, before in gates:
            gate.on_lift = None
            for what in gate.bypasses[before:]:
                watch.note(f"tried {what} on the sandbox's connection")
        if getattr(cms, "connection", None) is not None:
            _probe(watch, cms)
        for conn in watch.own_connections:
            with contextlib.suppress(sqlite3.Error):
                for row in sqlite3.Connection.execute(conn, "PRAGMA database_list"):
                    if row[2] and os.path.realpath(row[2]) in watch.paths:
                        watch.note("attached the sandbox's database file to another"
                                   " connection")
        for conn in watch.connections:  # the others: closed by a reconnect, or a second
            if conn is not getattr(cms, "connection", None):  # sandbox the learner opened
                with contextlib.suppress(sqlite3.ProgrammingError):
                    sqlite3.Connection.set_trace_callback(conn, None)


FORBIDDEN_METHODS = frozenset({
    "backup", "serialize", "deserialize", "set_authorizer", "set_trace_callback",
    "enable_load_extension", "load_extension", "set_progress_handler", "blobopen",
})
"""C methods of the CMS's connection that read or copy around the gate, or blind it."""


def _profiler(watch: Watch) -> Any:
    connections = watch.connections

    own = watch.own_connections

    pending = watch.pending

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "c_call":
            return
        if pending:
            target = getattr(arg, "__self__", None)
            if isinstance(target, sqlite3.Cursor):
                target = target.connection
            for conn in pending:
                if conn is target:
                    pending.remove(conn)
                    with contextlib.suppress(sqlite3.Error):
                        _watch_attach(watch, conn)
                    break
        if arg.__name__ not in FORBIDDEN_METHODS:
            return
        target = getattr(arg, "__self__", None)
        caller = frame.f_code.co_filename
        if caller.startswith(SANDBOX_DIR) or caller in (HERE, HARNESS):
            return
        if any(target is c for c in connections):
            watch.note(f"called {arg.__name__} on the CMS's connection")
        elif arg.__name__ == "set_authorizer" and any(target is c for c in own):
            watch.note("replaced the grader's watch on a connection your code opened")

    return profile


def _lifted(watch: Watch) -> None:
    asker = _asker(sys._getframe(1), skip=_PLUMBING)
    if not (asker.startswith(SANDBOX_DIR) or asker == HARNESS):
        watch.note("lifted the purpose gate (cms.gate.lifted() or scope.system), which is for"
                   " the CMS's own bookkeeping")


def _traced(watch: Watch, gate: Any, sql: str) -> None:
    watch.traced.append(sql[:40])
    del watch.traced[:-4]
    if gate is None or not gate._lifted or watch.busy:
        return
    asker = _asker(sys._getframe(1), skip=_PLUMBING)
    if not (asker.startswith(SANDBOX_DIR) or asker == HARNESS):
        watch.note("ran SQL on the CMS's connection while the purpose gate was lifted: "
                   f"{' '.join(sql.split())[:60]!r}")


PROBE_SQL = "EXPLAIN INSERT INTO audit_log (seq) VALUES (NULL)"
TRACE_PROBE = "SELECT 'grader probe'"


def _probe(watch: Watch, cms: Any) -> None:
    """After the call: the gate is in place and refuses, and the trace still runs."""
    conn, gate = cms.connection, getattr(cms, "gate", None)
    if not any(conn is c for c in watch.connections):
        watch.note("replaced the CMS's connection")
        return
    try:
        if gate is not None and gate._lifted:
            watch.note("left the purpose gate lifted")
        refused = False
        try:
            sqlite3.Connection.execute(conn, PROBE_SQL).fetchall()
        except sqlite3.DatabaseError:
            refused = True
        finally:
            if gate is not None:
                gate.take()
        if gate is not None and not gate._lifted and not refused:
            watch.note("removed the purpose gate's authorizer from the CMS's connection")
        watch.traced.clear()
        sqlite3.Connection.execute(conn, TRACE_PROBE).fetchall()
        if not any(s.startswith(TRACE_PROBE) for s in watch.traced):
            watch.note("removed the grader's trace from the CMS's connection")
    except sqlite3.ProgrammingError:  # the learner closed the connection: other checks say so
        pass
    finally:
        with contextlib.suppress(sqlite3.ProgrammingError):
            sqlite3.Connection.set_trace_callback(conn, None)
