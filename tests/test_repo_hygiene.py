"""House rules that hold for the whole repository."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FREE_MAIL = (
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "yahoo.com",
    "live.nl",
    "ziggo.nl",
    "kpnmail.nl",
    "xs4all.nl",
    "icloud.com",
)


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if line]


def test_there_are_course_notebooks():
    assert tracked("course/*.ipynb", "course/**/*.ipynb")


@pytest.mark.parametrize(
    "notebook", tracked("course/*.ipynb", "course/**/*.ipynb"), ids=lambda p: p.name
)
def test_notebooks_carry_no_outputs(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell.get("outputs") or cell.get("execution_count")
    ]
    assert not dirty, f"{notebook.name}: cells {dirty} have outputs or execution counts"


def test_datasets_hold_no_free_mail_addresses():
    for path in tracked("datasets"):
        text = path.read_text(encoding="utf-8", errors="replace")
        for domain in FREE_MAIL:
            # reference lists name the domains (to refuse them); none holds an address
            assert f"@{domain}" not in text, f"{path}: an address on {domain}"


def test_servers_bind_to_loopback_by_default():
    from click.testing import CliRunner

    from sandbox_cms.cli import main

    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "127.0.0.1" in help_text


@pytest.mark.parametrize("notebook", tracked("course/*.ipynb", "course/**/*.ipynb"),
                         ids=lambda p: p.name)
def test_every_graded_test_cell_imports_check_itself(notebook):
    """A learner who rebinds `check` in a solution cell cannot reach the test cells."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    tests = [c for c in nb["cells"] if c["cell_type"] == "code"
             and c.get("metadata", {}).get("nbgrader", {}).get("grade")
             and not c["metadata"]["nbgrader"].get("solution")]
    assert tests, f"{notebook.name} has no graded test cells"
    for cell in tests:
        source = "".join(cell["source"])
        assert "from grading import check" in source, cell["metadata"]["nbgrader"]["grade_id"]
