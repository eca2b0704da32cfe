"""Meta-tests: every command has help text and is in the generated reference."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import cli_docs  # noqa: E402

from grading.cli import main as course_main  # noqa: E402
from sandbox_cms.cli import main as sandbox_main  # noqa: E402

COMMANDS = [
    (" ".join(words), command)
    for prog, group in (("sandbox-cms", sandbox_main), ("privacy-course", course_main))
    for words, command in cli_docs.walk(group, [prog])
]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_has_help(name, command):
    assert (command.help or "").strip(), f"`{name}` has no help text"


def test_cli_reference_is_up_to_date():
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == cli_docs.render(), "docs/cli.md is stale: run python scripts/cli_docs.py"


def test_readme_points_to_the_reference_and_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make course" in readme and "make test" in readme
    assert "docs/cli.md" in readme
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec make test")


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    import re

    monkeypatch.chdir(tmp_path)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    assert "audit log intact" in out and "invoices" in out
