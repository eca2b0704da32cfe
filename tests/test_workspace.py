"""Learner mode: student versions only, an own sandbox, progress, and edits never lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from grading.cli import main
from grading.selfcheck import PROGRESS_ENV
from grading.workspace import jupyter_command, learner_env, prepare_workspace
from sandbox_cms.core.errors import CourseError

COURSE = Path(__file__).parent / "fixtures" / "course"
NOTEBOOK = Path("00-warmup") / "00-warmup.ipynb"

pytestmark = pytest.mark.nbgrader  # generate_assignment runs in-process


@pytest.fixture
def course(tmp_path) -> Path:
    """A private copy of the fixture course, so a test may change it."""
    return Path(shutil.copytree(COURSE, tmp_path / "course"))


def test_a_new_workspace_gets_student_versions_a_sandbox_and_progress(tmp_path, course):
    ws = tmp_path / "ws"
    report = prepare_workspace(ws, course)
    assert report.copied == [NOTEBOOK.as_posix()] and report.sandbox_built
    text = (ws / NOTEBOOK).read_text()
    assert "raise NotImplementedError()" in text
    assert "cms.consent.may" not in text, "the solution reached the learner"
    assert "HIDDEN TESTS" not in text
    assert (ws / "sandbox.db").stat().st_size > 0
    assert (ws / ".privacy-course" / "progress.json").exists()
    # nbgrader's gradebook holds the hidden tests: none may be left in the workspace
    assert [p.name for p in ws.rglob("gradebook.db")] == []
    assert not any("HIDDEN TESTS" in p.read_text(errors="ignore")
                   for p in ws.rglob("*") if p.is_file() and p.name != "sandbox.db")


def test_rerunning_keeps_edits_and_updates_untouched_files(tmp_path, course):
    ws = tmp_path / "ws"
    prepare_workspace(ws, course)
    edited = (ws / NOTEBOOK).read_text().replace("# YOUR CODE HERE", "# my own attempt")
    (ws / NOTEBOOK).write_text(edited)
    (ws / "sandbox.db").write_bytes(b"the learner's own sandbox state")

    source = course / NOTEBOOK
    source.write_text(source.read_text().replace("Warm-up (test fixture)", "Warm-up, v2"))
    again = prepare_workspace(ws, course)
    assert again.kept == [NOTEBOOK.as_posix()] and not again.sandbox_built
    assert (ws / NOTEBOOK).read_text() == edited
    assert (ws / "sandbox.db").read_bytes() == b"the learner's own sandbox state"

    # a learner who restores the handed-out file gets course updates again
    shutil.rmtree(ws / "00-warmup")
    prepare_workspace(ws, course)
    source.write_text(source.read_text().replace("Warm-up, v2", "Warm-up, v3"))
    third = prepare_workspace(ws, course)
    assert third.updated == [NOTEBOOK.as_posix()]
    assert "Warm-up, v3" in (ws / NOTEBOOK).read_text()


def test_progress_survives_a_restart_of_the_workspace(tmp_path, course):
    ws = tmp_path / "ws"
    prepare_workspace(ws, course, build_sandbox=False)
    progress = ws / ".privacy-course" / "progress.json"
    progress.write_text('{"version": 1, "exercises": {"00-newsletter-consent": '
                        '{"visible": {"passed": true, "message": "passed"}}}}')
    prepare_workspace(ws, course, build_sandbox=False)
    assert "00-newsletter-consent" in progress.read_text()


def test_a_workspace_inside_the_course_is_refused(course):
    with pytest.raises(CourseError, match="must not be inside the course"):
        prepare_workspace(course / "ws", course, build_sandbox=False)


def test_jupyter_binds_to_loopback_and_knows_where_progress_goes(tmp_path):
    cmd = jupyter_command(tmp_path, open_browser=False, port=8899)
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--no-browser" in cmd
    assert "--ServerApp.port=8899" in cmd
    env = learner_env(tmp_path)
    assert env[PROGRESS_ENV] == str(tmp_path.resolve() / ".privacy-course" / "progress.json")
    assert env["SANDBOX_DB"] == str(tmp_path.resolve() / "sandbox.db")


def test_start_prepare_only_from_the_command_line(tmp_path, course):
    ws = tmp_path / "ws"
    args = ["start", "--prepare-only", "--workspace", str(ws), "--course", str(course)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"new      {NOTEBOOK.as_posix()}" in result.output
    assert (ws / NOTEBOOK).exists()
    result = CliRunner().invoke(main, ["start", "--prepare-only", "--workspace", str(ws),
                                       "--course", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: course folder") and "Traceback" not in result.output


def test_stopping_start_stops_jupyterlab_too(tmp_path):
    """SIGTERM to `privacy-course start` must not leave its JupyterLab serving."""
    import os
    import signal
    import subprocess
    import sys

    pid_file = tmp_path / "child.pid"
    child_script = tmp_path / "child.py"
    child_script.write_text(
        "import os, pathlib, time\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(60)\n")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from grading.workspace import run_until_stopped\n"
        f"cmd = [sys.executable, {str(child_script)!r}]\n"
        "sys.exit(run_until_stopped(cmd, Path('.'), {}, grace=5))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        for _ in range(200):  # wait (bounded) until the child has started
            if pid_file.exists() and pid_file.read_text():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # reaped: gone
    finally:
        parent.kill()


def test_the_classroom_config_keeps_the_instructors_own_lines(tmp_path, monkeypatch):
    """Every command rewrites our part of nbgrader_config.py, never the instructor's."""
    from grading.nbgrader_config import KEEP_BELOW, make_config, write_config_file

    monkeypatch.delenv("PRIVACY_COURSE_EXCHANGE", raising=False)
    room = tmp_path / "room"
    path = write_config_file(room, cell_timeout=60)
    assert make_config(room).Exchange.root == str((room / "exchange").resolve())
    path.write_text(path.read_text() + "c.Exchange.root = '/srv/shared/exchange'\n")
    write_config_file(room, cell_timeout=30)  # a later command, other settings
    text = path.read_text()
    assert "c.Execute.timeout = 30" in text and "c.Execute.timeout = 60" not in text
    assert text.split(KEEP_BELOW)[1] == "\nc.Exchange.root = '/srv/shared/exchange'\n"
    assert make_config(room).Exchange.root == "/srv/shared/exchange"  # applies to our commands

    path.write_text("c = get_config()\nc.Execute.timeout = 5\n")  # the instructor's own file
    write_config_file(room)
    assert path.read_text() == "c = get_config()\nc.Execute.timeout = 5\n"
    assert make_config(room).Execute.timeout == 5


def test_the_exchange_folder_is_configurable(tmp_path, monkeypatch):
    from grading.nbgrader_config import make_config, write_config_file

    monkeypatch.setenv("PRIVACY_COURSE_EXCHANGE", str(tmp_path / "shared"))
    room = tmp_path / "room"
    assert f"c.Exchange.root = {str(tmp_path / 'shared')!r}" in write_config_file(room).read_text()
    assert make_config(room).Exchange.root == str(tmp_path / "shared")


def test_a_hub_learner_gets_a_workspace_and_the_class_config(tmp_path, course):
    from grading.workspace import prepare_hub_user

    home = tmp_path / "home" / "alice"
    root, env = prepare_hub_user("alice", home, "learner-in-class", source=course,
                                 exchange=tmp_path / "exchange")
    assert root == (home / "privacy-course").resolve() and (root / NOTEBOOK).exists()
    assert env["SANDBOX_DB"] == str(root / "sandbox.db") and (root / "sandbox.db").exists()
    assert "learner-in-class" in env["JUPYTER_CONFIG_PATH"].split(":")[0]
    config = (home / ".jupyter" / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.student_id = 'alice'" in config
    assert f"c.Exchange.root = {str((tmp_path / 'exchange').resolve())!r}" in config
    teacher_root, teacher_env = prepare_hub_user("teacher", tmp_path / "home" / "teacher",
                                                 "instructor", source=course,
                                                 classroom=tmp_path / "room")
    assert teacher_root == (tmp_path / "room").resolve()
    assert (teacher_root / "nbgrader_config.py").exists() and "SANDBOX_DB" not in teacher_env


def test_a_hub_learner_prepared_as_another_process_never_needs_the_sources(tmp_path, course):
    """run_as: the hub generates the student versions; the learner's process (here: this
    user, as a separate process) writes the workspace from them, never reading the sources."""
    import os

    from grading.workspace import prepare_hub_user

    home = tmp_path / "home" / "bob"
    home.mkdir(parents=True)
    root, env = prepare_hub_user("bob", home, "learner-in-class", source=course,
                                 exchange=tmp_path / "exchange",
                                 run_as=(os.getuid(), os.getgid()), set_student_id=False)
    text = (root / NOTEBOOK).read_text()
    assert "raise NotImplementedError()" in text and "HIDDEN TESTS" not in text
    assert (root / "sandbox.db").stat().st_size > 0 and (root / "class").is_dir()
    config = (home / ".jupyter" / "nbgrader_config.py").read_text()
    assert "student_id" not in config and "c.Exchange.assignment_dir" in config
    assert not [p for p in root.rglob("gradebook.db")]
