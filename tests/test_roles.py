"""Two roles, proven on a real JupyterLab on loopback: what each role's page config and server
extensions offer (learners: no formgrader, create assignment or course list; an Assignment
List only in a class with an exchange; the instructor: every nbgrader tool; nobody: the news
prompt)."""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from grading.workspace import jupyter_command, role_config_path, server_env
from sandbox_cms.core.errors import CourseError

pytestmark = pytest.mark.slow

INSTRUCTOR_TOOLS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                    "@jupyter/nbgrader:course-list")
NEWS = "@jupyterlab/apputils-extension:notification"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


class Served:
    """A JupyterLab for one role, with the user's own Jupyter folders kept out of it."""

    def __init__(self, tmp: Path, role: str, exists: bool = False) -> None:
        self.port, self.token = _free_port(), secrets.token_hex(16)
        root = tmp / role
        root.mkdir(exist_ok=exists)
        base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("JUPYTER")}
        base.update(HOME=str(root), JUPYTER_CONFIG_DIR=str(root / ".jupyter"),
                    JUPYTER_DATA_DIR=str(root / ".data"),
                    JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
                    JUPYTER_TOKEN=self.token)
        cmd = jupyter_command(root, open_browser=False, port=self.port)
        self.proc = subprocess.Popen(cmd, cwd=root, env=server_env(root, role, base),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "JupyterLab exited"
            try:
                if _get(f"{self.url}/api/status", self.token)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError("JupyterLab did not start within 60 s")

    def page_config(self) -> dict:
        status, html = _get(f"{self.url}/lab", self.token)
        assert status == 200
        found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)'
                          r"</script>", html, re.S)
        assert found, "no page config in /lab"
        return json.loads(found.group(1))

    def status(self, path: str) -> int:
        return _get(f"{self.url}{path}", self.token)[0]

    def news_setting(self) -> dict:
        status, body = _get(f"{self.url}/lab/api/settings/{NEWS}", self.token)
        assert status == 200
        # default_settings_overrides.json changes the schema's defaults (the user's own
        # settings, empty here, would still win)
        properties = json.loads(body)["schema"]["properties"]
        return {key: value.get("default") for key, value in properties.items()}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roles")
    started: dict[str, Served] = {}
    try:
        for role in ("learner", "learner-in-class", "instructor"):
            started[role] = Served(tmp, role)
        yield started
    finally:
        for served in started.values():
            served.stop()


def _disabled(config: dict) -> set[str]:
    disabled = config.get("disabledExtensions", [])
    return set(disabled if isinstance(disabled, list) else
               [k for k, v in disabled.items() if v])


def test_a_learner_gets_no_instructor_tools_and_no_assignment_list(servers):
    learner = servers["learner"]
    disabled = _disabled(learner.page_config())
    assert set(INSTRUCTOR_TOOLS) <= disabled
    assert "@jupyter/nbgrader:assignment-list" in disabled  # no exchange: it would only error
    assert learner.status("/formgrader") == 404
    assert learner.status("/assignments") == 404
    assert learner.status("/formgrader/api/assignments") == 404
    # the course is still there: the validate button and the CMS tile (server proxy)
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    assert learner.status("/sandbox-cms/") != 404


def test_a_learner_in_a_class_gets_a_working_assignment_list_only(servers):
    learner = servers["learner-in-class"]
    disabled = _disabled(learner.page_config())
    assert set(INSTRUCTOR_TOOLS) <= disabled
    assert "@jupyter/nbgrader:assignment-list" not in disabled
    assert learner.status("/formgrader") == 404
    assert learner.status("/assignments") != 404


def test_the_instructor_gets_formgrader_and_every_nbgrader_tool(servers):
    instructor = servers["instructor"]
    disabled = _disabled(instructor.page_config())
    assert not disabled & {*INSTRUCTOR_TOOLS, "@jupyter/nbgrader:assignment-list"}
    assert instructor.status("/formgrader") == 200


@pytest.mark.parametrize("role", ["learner", "learner-in-class", "instructor"])
def test_nobody_gets_the_news_prompt(servers, role):
    news = servers[role].news_setting()
    assert news["fetchNews"] == "false" and news["checkForUpdates"] is False


def test_an_unknown_role_is_refused():
    with pytest.raises(CourseError, match="unknown role 'teacher'"):
        role_config_path("teacher")


def test_the_formgrader_links_to_sources_inside_the_instructors_jupyterlab(tmp_path):
    """The formgrader's Edit link opens ``<source_path>`` in the instructor's JupyterLab,
    which runs on the classroom; with the course outside the classroom that path began with
    ``..`` and was a 404. Now the classroom links the sources in as ``source/``."""
    from grading.nbgrader_config import write_config_file

    course = Path(__file__).resolve().parent / "fixtures" / "course"
    (tmp_path / "instructor").mkdir()
    write_config_file(tmp_path / "instructor", course)
    served = Served(tmp_path, "instructor", exists=True)
    try:
        status, body = _get(f"{served.url}/formgrader/api/assignments", served.token)
        assert status == 200
        paths = {a["name"]: a["source_path"] for a in json.loads(body)}
        assert paths.get("00-warmup") == "source/00-warmup", paths
        status, listing = _get(f"{served.url}/api/contents/source/00-warmup", served.token)
        assert status == 200
        assert any(item["name"].endswith(".ipynb") for item in json.loads(listing)["content"])
    finally:
        served.stop()
