"""A plain install of the built wheel runs the course from outside the checkout.

Builds the wheel (with warnings as errors in the build backend: packaging must give no
deprecation warnings), installs it into a fresh venv without its dependencies (those come
from this test venv's site-packages through a ``.pth`` line, so no network is needed beyond
the build backend from the package index), and runs from an empty folder: ``sandbox-cms
seed`` on the shipped webshop scenario, ``privacy-course start --prepare-only`` (student
versions from the shipped course), and the self-check of one exercise with the reference
solution taken from the shipped source notebook (and a wrong answer that must fail).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                              "workspace", "classroom", ".pytest_cache", ".ruff_cache",
                              "node_modules", "*.db", "benchmarks")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = Path(shutil.copytree(REPO, tmp / "src", ignore=SKIP))  # never build in the checkout
    env = {**os.environ, "PYTHONWARNINGS": "error", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp / "dist"),
         str(src)], env=env, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    log = built.stdout + built.stderr
    assert "Deprecat" not in log, [ln for ln in log.splitlines() if "Deprecat" in ln]
    (wheel,) = (tmp / "dist").glob("privacy_course-*.whl")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    fresh_site = next(venv.glob("lib/python*/site-packages"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                    "--target", str(fresh_site), str(wheel)], check=True, timeout=300)
    # scripts: pip --target does not write them into the venv's bin/, so write our own two
    for name, target in (("sandbox-cms", "sandbox_cms.cli"), ("privacy-course", "grading.cli")):
        script = venv / "bin" / name
        script.write_text(f"#!{venv / 'bin' / 'python'}\nfrom {target} import main\nmain()\n")
        script.chmod(0o755)
    # the dependencies: this test venv's site-packages, AFTER the wheel (a .pth appends), and
    # without its .pth files (so not the checkout's editable install)
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (fresh_site / "zz_test_dependencies.pth").write_text("\n".join(deps) + "\n")
    return venv / "bin"


def _run(bin_dir: Path, cwd: Path, *args: str, timeout: int = 300) -> str:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRIVACY_COURSE", "SANDBOX", "PYTHONPATH"))}
    # the dependencies' commands (nbgrader runs `alembic`) come from this test venv, as the
    # dependencies do; a real `pip install` puts them beside ours
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(HOME=str(cwd), PATH=path)
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    out = _run(installed, tmp_path, str(installed / "python"), "-c",
               "import grading, sandbox_cms.core.datafiles as d; "
               "print(grading.__file__); print(d.DATASETS); print(d.COURSE)")
    for line in out.splitlines():
        assert str(REPO) not in line and "site-packages" in line, out


def test_seed_builds_the_shipped_webshop_scenario(installed, tmp_path):
    out = _run(installed, tmp_path, str(installed / "sandbox-cms"), "scenarios")
    assert "webshop" in out
    _run(installed, tmp_path, str(installed / "sandbox-cms"), "seed", "--db", "shop.db",
         "--customers", "20")
    assert (tmp_path / "shop.db").stat().st_size > 0


def test_a_learner_workspace_and_a_self_check_run_from_the_wheel(installed, tmp_path):
    out = _run(installed, tmp_path, str(installed / "privacy-course"), "start",
               "--prepare-only", "--workspace", "ws")
    assert "new      00-orientation/00-orientation.ipynb" in out
    assert (tmp_path / "ws" / "sandbox.db").exists()
    script = textwrap.dedent('''
        import json
        from grading.harness import run
        from sandbox_cms.core.datafiles import COURSE
        nb = json.loads((COURSE / "01-training-data" / "01-training-data.ipynb").read_text())
        (cell,) = [c for c in nb["cells"]
                   if c["metadata"].get("nbgrader", {}).get("grade_id") == "m01-ex2-solution"]
        namespace = {}
        exec("".join(cell["source"]), namespace)
        right = run("01-real-looking", namespace["find_real_looking"])
        wrong = run("01-real-looking", lambda *args, **kwargs: [])
        print(right.passed, wrong.passed, wrong.principle)
    ''')
    out = _run(installed, tmp_path, str(installed / "python"), "-c", script)
    assert out.split() == ["True", "False", "synthetic_only"], out


def test_hints_and_model_answers_come_from_the_wheel(installed, tmp_path):
    """The hints (datasets/course/hints/) ship in the wheel; the model answers are read from
    the shipped course sources."""
    out = _run(installed, tmp_path, str(installed / "privacy-course"), "hint",
               "01-minimal-extract", "--workspace", "ws")
    assert "Hint 1 of 3 for 01-minimal-extract" in out, out
    script = ("from grading.solutions import model_answer\n"
              "m = model_answer('01-compatibility-test')\n"
              "print(m.notebook); print('Rubric' in m.text)")
    out = _run(installed, tmp_path, str(installed / "python"), "-c", script)
    notebook, rubric = out.split()
    assert "site-packages" in notebook and str(REPO) not in notebook and rubric == "True"


def test_a_learner_install_carries_no_dev_or_browser_tools(tmp_path):
    """`make course` installs the course alone; only `make test` adds [dev] (Playwright...)."""
    venv = f"VENV={tmp_path / 'venv'}"
    course = subprocess.run(["make", "-n", "-C", str(REPO), "course", venv], capture_output=True,
                            text=True, check=True).stdout
    test = subprocess.run(["make", "-n", "-C", str(REPO), "test", venv], capture_output=True,
                          text=True, check=True).stdout
    assert "pip install --quiet -e .\n" in course and "[dev]" not in course
    assert "pip install --quiet -e '.[dev]'" in test
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"]).lower()
    for tool in ("playwright", "pytest", "ruff", "jupyterhub"):
        assert tool not in runtime
        assert any(tool in d for d in project["optional-dependencies"]["dev"])


def test_every_data_file_of_the_packages_is_in_the_wheel(installed):
    """Templates, static files, role configs: what the packages read at run time."""
    site_packages = next((installed.parent / "lib").glob("python*/site-packages"))
    missing = [
        str(path.relative_to(REPO))
        for package in ("grading", "sandbox_cms")
        for path in (REPO / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
        and "__pycache__" not in path.parts
        and not (site_packages / path.relative_to(REPO)).exists()
    ]
    assert not missing
