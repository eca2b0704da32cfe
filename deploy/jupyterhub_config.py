"""JupyterHub for a class of the privacy course: one server, learners and instructors.

Run it from a folder of your choice (the hub keeps its database and cookie secret there):

    jupyterhub -f /path/to/deploy/jupyterhub_config.py

Everything that differs between a test and a real server comes from the environment (see
docs/jupyterhub.md for the whole setup, step by step):

PRIVACY_HUB_AUTH          ``pam`` (default: system users and their passwords) or ``dummy``
                          (tests only: any allowed user name with PRIVACY_HUB_PASSWORD)
PRIVACY_HUB_PASSWORD      the shared password of the ``dummy`` authenticator (required there)
PRIVACY_HUB_SPAWNER       ``local`` (default: each user's server runs as their own system user,
                          in their home folder) or ``simple`` (tests: all servers run as the hub's
                          user, homes under PRIVACY_HUB_HOMES)
PRIVACY_HUB_HOMES         folder of the ``simple`` spawner's homes (default /tmp/privacy-hub)
PRIVACY_HUB_INSTRUCTORS   comma-separated user names that get the instructor's tools
PRIVACY_HUB_LEARNERS      comma-separated user names of the learners
PRIVACY_HUB_PORT          the public port on 127.0.0.1 (default 8000; the hub API and the
                          proxy API use the next two ports). Put a TLS proxy (nginx, Caddy) in
                          front for other machines; the hub itself binds to loopback only.
PRIVACY_HUB_API_TOKEN     optional: a service token with user and server administration
                          (the CI test drives the hub's REST API with it)
PRIVACY_COURSE_SOURCE     the course sources (default: the course shipped with the package);
                          only the hub's user and instructors may read them
PRIVACY_COURSE_CLASSROOM  the instructors' nbgrader folder (default /srv/privacy-course/classroom)
PRIVACY_COURSE_EXCHANGE   nbgrader's exchange, shared by all (default /srv/nbgrader/exchange)
PRIVACY_COURSE_SOLUTIONS  ``off``: learners' `solution(...)` refuses even after a pass (passed on
                          to every learner's server; docs/instructor.md)
CHP_PATH                  configurable-http-proxy (default: .venv/node from
                          scripts/ensure-jupyterhub.sh, else the one on PATH)
"""

import os
import shutil
import sys
from pathlib import Path

from grading.workspace import prepare_hub_user
from sandbox_cms.core.datafiles import CHECKOUT, COURSE

c = get_config()  # noqa: F821


def _names(var: str) -> set[str]:
    return {n.strip() for n in os.environ.get(var, "").split(",") if n.strip()}


INSTRUCTORS = _names("PRIVACY_HUB_INSTRUCTORS")
LEARNERS = _names("PRIVACY_HUB_LEARNERS")
SOURCE = Path(os.environ.get("PRIVACY_COURSE_SOURCE") or COURSE)
CLASSROOM = Path(os.environ.get("PRIVACY_COURSE_CLASSROOM") or "/srv/privacy-course/classroom")
EXCHANGE = Path(os.environ.get("PRIVACY_COURSE_EXCHANGE") or "/srv/nbgrader/exchange")
os.environ["PRIVACY_COURSE_EXCHANGE"] = str(EXCHANGE)  # the classroom config follows it
PORT = int(os.environ.get("PRIVACY_HUB_PORT") or 8000)
SPAWNER = os.environ.get("PRIVACY_HUB_SPAWNER", "local")
AUTH = os.environ.get("PRIVACY_HUB_AUTH", "pam")

# --- network: loopback only ---------------------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = PORT + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 2}"
_local_chp = CHECKOUT / ".venv" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [
    os.environ.get("CHP_PATH")
    or (str(_local_chp) if _local_chp.exists() else shutil.which("configurable-http-proxy")
        or "configurable-http-proxy")
]
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every learner's server

# --- who may log in -------------------------------------------------------------------------
if AUTH == "dummy":
    password = os.environ.get("PRIVACY_HUB_PASSWORD", "")
    if len(password) < 8:
        raise SystemExit("PRIVACY_HUB_AUTH=dummy needs PRIVACY_HUB_PASSWORD (8+ characters)")
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = password
elif AUTH == "pam":
    c.JupyterHub.authenticator_class = "pam"
else:  # OAuth (oauthenticator) or LTI (ltiauthenticator): see docs/jupyterhub.md
    c.JupyterHub.authenticator_class = AUTH
c.Authenticator.allowed_users = INSTRUCTORS | LEARNERS

token = os.environ.get("PRIVACY_HUB_API_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "course-admin", "api_token": token}]
    c.JupyterHub.load_roles = [{
        "name": "course-admin",
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
        "services": ["course-admin"],
    }]

# --- each user's server ---------------------------------------------------------------------
if SPAWNER == "simple":
    c.JupyterHub.spawner_class = "simple"  # all servers as the hub's user: tests only
    HOMES = Path(os.environ.get("PRIVACY_HUB_HOMES") or "/tmp/privacy-hub")
    c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")
else:
    c.JupyterHub.spawner_class = "localprocess"  # each user's server as their system user
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def _home(spawner) -> Path:
    if SPAWNER == "simple":
        return Path(spawner.home_dir_template.format(username=spawner.user.name))
    import pwd

    return Path(pwd.getpwnam(spawner.user.name).pw_dir)


def _give_to(path: Path, user: str) -> None:
    """Hand a folder prepared by the hub (running as root) to the user who will use it."""
    import pwd

    entry = pwd.getpwnam(user)
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def pre_spawn_hook(spawner) -> None:
    """Prepare the user's workspace and sandbox (learners) or classroom (instructors), the
    nbgrader configuration for the class, and the tools of their role."""
    name = spawner.user.name
    role = "instructor" if name in INSTRUCTORS else "learner-in-class"
    home = _home(spawner)
    real_user = SPAWNER != "simple" and os.geteuid() == 0
    run_as = None
    if real_user:  # learners' files are written by a process running as the learner
        import pwd

        entry = pwd.getpwnam(name)
        run_as = (entry.pw_uid, entry.pw_gid)
    else:
        home.mkdir(parents=True, exist_ok=True)
    root, env = prepare_hub_user(
        name, home, role, source=SOURCE, classroom=CLASSROOM, exchange=EXCHANGE,
        run_as=run_as if role != "instructor" else None,
        # one OS user for all (tests): nbgrader cannot tell learners apart by their account
        set_student_id=not real_user)
    if real_user and role == "instructor":
        _give_to(home / ".jupyter", name)  # written by the hub; instructors are trusted
        (root / "nbgrader_config.py").chmod(0o660)  # the instructors' group may edit it
    spawner.notebook_dir = str(root)
    if role != "instructor" and os.environ.get("PRIVACY_COURSE_SOLUTIONS"):
        env = {**env, "PRIVACY_COURSE_SOLUTIONS": os.environ["PRIVACY_COURSE_SOLUTIONS"]}
    spawner.environment = {**spawner.environment, **env}
    if SPAWNER == "simple" and os.geteuid() == 0 and "--allow-root" not in spawner.args:
        spawner.args = [*spawner.args, "--allow-root"]


c.Spawner.pre_spawn_hook = pre_spawn_hook

# nbgrader's exchange: one folder every user can write to, with the sticky bit (nbgrader's
# own instructions); inbound/ and outbound/ are made by nbgrader.
EXCHANGE.mkdir(parents=True, exist_ok=True)
if EXCHANGE.stat().st_uid == os.geteuid():
    EXCHANGE.chmod(0o1777)
