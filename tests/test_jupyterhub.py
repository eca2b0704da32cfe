"""A class on JupyterHub, end to end: deploy/jupyterhub_config.py on loopback (JupyterHub 6,
configurable-http-proxy, the simple local spawner, the dummy authenticator), one instructor and
two learners.

The hub spawns the three servers (the spawn hook prepares each learner's workspace and sandbox,
and the classroom for the instructor); the test checks, through the proxy, what each server
serves. Then the class runs through nbgrader's exchange, each user with their own HOME and the
nbgrader config the spawn hook wrote: release → fetch → submit → collect → grade → feedback →
fetch feedback. (The nbgrader commands run beside the servers, as the same OS user: in a real
deployment each user runs them in their own server, as themselves.)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "tests" / "fixtures" / "course"
ASSIGNMENT = "00-warmup"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
CHP = REPO / ".venv" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent
INSTRUCTOR, LEARNERS = "teacher", ("alice", "bob")

pytestmark = [pytest.mark.slow, pytest.mark.nbgrader]


def _free_base_port() -> int:
    """A port p with p, p+1 and p+2 free on loopback (public, hub API, proxy API)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base > 65000:
            continue
        try:
            for offset in (1, 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise AssertionError("no three free ports")


class Hub:
    def __init__(self, tmp: Path) -> None:
        if not CHP.exists():
            subprocess.run(["bash", str(REPO / "scripts" / "ensure-jupyterhub.sh")], check=True,
                           timeout=300)
        self.tmp, self.port, self.token = tmp, _free_base_port(), secrets.token_hex(24)
        self.homes, self.classroom = tmp / "home", tmp / "classroom"
        self.exchange = tmp / "exchange"
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PRIVACY_", "JUPYTER", "SANDBOX"))}
        self.env.update(
            PRIVACY_HUB_AUTH="dummy", PRIVACY_HUB_PASSWORD=secrets.token_hex(8),
            PRIVACY_HUB_SPAWNER="simple", PRIVACY_HUB_HOMES=str(self.homes),
            PRIVACY_HUB_INSTRUCTORS=INSTRUCTOR, PRIVACY_HUB_LEARNERS=",".join(LEARNERS),
            PRIVACY_HUB_PORT=str(self.port), PRIVACY_HUB_API_TOKEN=self.token,
            PRIVACY_COURSE_SOURCE=str(COURSE), PRIVACY_COURSE_CLASSROOM=str(self.classroom),
            PRIVACY_COURSE_EXCHANGE=str(self.exchange), CHP_PATH=str(CHP),
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        state = tmp / "hub"
        state.mkdir()
        self.log = open(state / "hub.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f",
             str(REPO / "deploy" / "jupyterhub_config.py")],
            cwd=state, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait(lambda: self.api("GET", "/hub/api/")[0] == 200, 90, "the hub to start")

    def _wait(self, ready, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the hub exited:\n{self.log_text()}"
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"waited {seconds} s for {what}:\n{self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def api(self, method: str, path: str) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def spawn(self, user: str) -> None:
        status, body = self.api("POST", f"/hub/api/users/{user}/server")
        assert status in (201, 202), body

    def wait_ready(self, user: str) -> None:
        def ready() -> bool:
            status, body = self.api("GET", f"/hub/api/users/{user}")
            server = json.loads(body).get("servers", {}).get("", {}) if status == 200 else {}
            return bool(server.get("ready"))
        self._wait(ready, 120, f"{user}'s server")

    def home(self, user: str) -> Path:
        return self.homes / user

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    hub = Hub(tmp)
    try:
        for user in (INSTRUCTOR, *LEARNERS):
            hub.spawn(user)
        for user in (INSTRUCTOR, *LEARNERS):
            hub.wait_ready(user)
        yield hub
    finally:
        hub.stop()


def test_spawn_prepares_each_learner_a_workspace_and_sandbox(hub):
    for learner in LEARNERS:
        workspace = hub.home(learner) / "privacy-course"
        text = (workspace / ASSIGNMENT / NOTEBOOK).read_text()
        assert "raise NotImplementedError()" in text and "HIDDEN TESTS" not in text
        assert (workspace / "sandbox.db").stat().st_size > 0
        # served through the proxy, from the workspace
        status, body = hub.api("GET", f"/user/{learner}/api/contents/{ASSIGNMENT}")
        assert status == 200, body
        assert NOTEBOOK in [item["name"] for item in json.loads(body)["content"]]
    # the learner's JupyterLab behind the hub: instructor tools off, Assignment List on
    status, html = hub.api("GET", f"/user/{LEARNERS[0]}/lab")
    assert status == 200
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">'
                                  r"(.*?)</script>", html, re.S).group(1))
    disabled = set(config["disabledExtensions"])  # a list in the served page
    assert "@jupyter/nbgrader:formgrader" in disabled
    assert "@jupyter/nbgrader:assignment-list" not in disabled


def test_each_role_gets_its_tools(hub):
    assert hub.api("GET", f"/user/{INSTRUCTOR}/formgrader")[0] == 200
    for learner in LEARNERS:
        assert hub.api("GET", f"/user/{learner}/formgrader")[0] == 404
        # a working Assignment List: it reads the class's exchange with the learner's config
        status, body = hub.api("GET", f"/user/{learner}/assignments?course_id=privacy-course")
        assert status == 200 and json.loads(body)["success"] is True, body


def _as(hub: Hub, user: str, *args: str, cwd: Path | None = None) -> str:
    """Run a command as ``user`` would: their HOME, so their nbgrader config."""
    env = {**hub.env, "HOME": str(hub.home(user))}
    for key in [k for k in env if k.startswith("PRIVACY_HUB")]:
        env.pop(key)
    done = subprocess.run(list(args), cwd=cwd or hub.home(user), env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, f"{args}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout + done.stderr


def _answer(path: Path) -> None:
    """Put the reference solution of the source notebook into a learner's copy."""
    source = nbformat.read(COURSE / ASSIGNMENT / NOTEBOOK, as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]
    nbformat.write(nb, path)


def test_release_fetch_submit_collect_grade_feedback_fetch_feedback(hub):
    nbgrader, course = str(BIN / "nbgrader"), str(BIN / "privacy-course")
    room = ["--classroom", str(hub.classroom), "--course", str(COURSE)]
    _as(hub, INSTRUCTOR, course, "release", ASSIGNMENT, *room)
    _as(hub, INSTRUCTOR, nbgrader, "release_assignment", ASSIGNMENT, cwd=hub.classroom)
    assert (hub.exchange / "privacy-course" / "outbound" / ASSIGNMENT / NOTEBOOK).exists()

    for learner in LEARNERS:
        _as(hub, learner, nbgrader, "fetch_assignment", ASSIGNMENT)
        fetched = hub.home(learner) / "privacy-course" / "class" / ASSIGNMENT / NOTEBOOK
        assert "raise NotImplementedError()" in fetched.read_text()
        if learner == "alice":
            _answer(fetched)  # bob hands in the untouched notebook
        _as(hub, learner, nbgrader, "submit", ASSIGNMENT)

    _as(hub, INSTRUCTOR, nbgrader, "collect", ASSIGNMENT, cwd=hub.classroom)
    for learner in LEARNERS:
        assert (hub.classroom / "submitted" / learner / ASSIGNMENT / NOTEBOOK).exists()
    graded = _as(hub, INSTRUCTOR, course, "grade", ASSIGNMENT, *room)
    scores = {line.split("/")[1].split(":")[0].strip(): line.split(":")[1].split()[0]
              for line in graded.splitlines() if line.startswith("score")}
    assert float(scores["alice"]) > 0 and float(scores["bob"]) == 0, graded
    _as(hub, INSTRUCTOR, course, "feedback", ASSIGNMENT, *room)
    _as(hub, INSTRUCTOR, nbgrader, "release_feedback", ASSIGNMENT, cwd=hub.classroom)

    for learner in LEARNERS:
        _as(hub, learner, nbgrader, "fetch_feedback", ASSIGNMENT)
        folder = hub.home(learner) / "privacy-course" / "class" / ASSIGNMENT / "feedback"
        (html,) = folder.glob(f"*/{ASSIGNMENT}.html")
        text = html.read_text()
        assert "HIDDEN TESTS" not in text
        assert f"Score: {float(scores[learner]):.1f} / " in text  # their own grade
    # neither learner can see the other's feedback in their own workspace
    assert not list((hub.home("alice") / "privacy-course").rglob("*bob*"))


@pytest.fixture(autouse=True)
def _keep_the_checkout_clean():
    yield
    shutil.rmtree(REPO / "deploy" / "__pycache__", ignore_errors=True)
