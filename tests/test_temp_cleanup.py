"""Temporary sandboxes and grading folders never accumulate, even when their process is killed.

A real Python process makes a ``fresh_sandbox()`` (and a grading attempt's folder) and is then
killed with SIGKILL, so no ``atexit`` handler runs; the next temporary folder made, in
another process, removes what the dead one left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox_cms.cms import fresh_sandbox, reap_stale_folders, temporary_folder

CHILD = textwrap.dedent("""
    import sys, time
    from sandbox_cms.cms import fresh_sandbox
    from grading.harness import get_exercise, open_variant
    cms = fresh_sandbox(customers=50)
    attempt = open_variant(get_exercise(sys.argv[1]), "visible")
    print(cms.path.parent, attempt.workdir, flush=True)
    time.sleep(120)
""")


def _killed_child(tmp_root: Path, exercise_id: str) -> list[Path]:
    env = {**os.environ, "TMPDIR": str(tmp_root)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, exercise_id], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    try:
        line = child.stdout.readline()
    finally:
        child.send_signal(signal.SIGKILL)
        _, errors = child.communicate(timeout=30)
    assert line, errors
    assert child.returncode == -signal.SIGKILL
    return [Path(p) for p in line.split()]


@pytest.mark.slow
def test_folders_of_a_killed_process_are_reaped_at_the_next_start(tmp_path: Path) -> None:
    from grading.harness import exercises

    exercise_id = sorted(exercises())[0]
    left = _killed_child(tmp_path, exercise_id)
    sandbox_dir, grading_dir = left
    assert sandbox_dir.name.startswith("sandbox-pid") and sandbox_dir.is_dir()
    assert grading_dir.name.startswith(f"grading-{exercise_id}-pid") and grading_dir.is_dir()
    assert any(sandbox_dir.iterdir())  # the dead process's sandbox is still there ...
    removed = reap_stale_folders(tmp_path)  # ... until the next start looks
    assert sorted(removed) == sorted(left)
    assert not sandbox_dir.exists() and not grading_dir.exists()


def test_a_new_temporary_folder_reaps_dead_ones_and_spares_live_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f"sandbox-pid{int(dead.stdout)}-abc"
    stale.mkdir()
    (stale / "webshop.db").write_bytes(b"x")
    mine = tmp_path / f"grading-01-x-pid{os.getpid()}-def"
    mine.mkdir()
    parent = tmp_path / f"sandbox-pid{os.getppid()}-ghi"  # a running process
    parent.mkdir()
    unrelated = tmp_path / "sandbox-notours"
    unrelated.mkdir()
    cms = fresh_sandbox(customers=50)
    try:
        assert cms.path.parent.parent == tmp_path
        assert cms.path.parent.name.startswith(f"sandbox-pid{os.getpid()}-")
    finally:
        cms.close()
    assert not stale.exists()
    assert mine.is_dir() and parent.is_dir() and unrelated.is_dir()
    folder = temporary_folder("grading-x-")
    assert folder.name.startswith(f"grading-x-pid{os.getpid()}-")
