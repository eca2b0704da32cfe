"""The `privacy-course` command line: one-line errors, documented commands."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from grading.cli import main

COURSE = Path(__file__).parent / "fixtures" / "course"


def test_cli_reports_unknown_assignment_and_missing_gradebook_in_one_line(tmp_path):
    runner = CliRunner()
    args = ["--course", str(COURSE), "--classroom", str(tmp_path / "room")]
    result = runner.invoke(main, ["release", "nope", *args])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: unknown assignment 'nope' (known: 00-warmup)"
    result = runner.invoke(main, ["export", *args])
    assert result.exit_code == 1 and "no gradebook" in result.output
    assert "Traceback" not in result.output


def test_every_command_is_documented_and_has_help():
    from grading.cli import main as group

    docs = (Path(__file__).parent.parent / "docs" / "instructor.md").read_text()
    for name, command in group.commands.items():
        assert f"privacy-course {name}" in docs, f"`privacy-course {name}` is not documented"
        assert command.help and command.help.strip(), f"{name} has no help text"


def test_grade_without_submissions_is_one_line(tmp_path):
    args = ["--course", str(COURSE), "--classroom", str(tmp_path / "room")]
    result = CliRunner().invoke(main, ["grade", *args])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: no submissions under")


def test_exercises_lists_the_demo_exercise():
    result = CliRunner().invoke(main, ["exercises"])
    assert result.exit_code == 0
    assert "00-newsletter-consent" in result.output and "consent" in result.output


def test_grading_before_release_says_what_to_do(tmp_path):
    import shutil

    room = tmp_path / "room"
    dest = room / "submitted" / "amy" / "00-warmup"
    dest.mkdir(parents=True)
    shutil.copy(COURSE / "00-warmup" / "00-warmup.ipynb", dest)
    args = ["--course", str(COURSE), "--classroom", str(room)]
    result = CliRunner().invoke(main, ["grade", *args])
    assert result.exit_code == 1
    assert "run `privacy-course release` first" in result.output
    assert "Traceback" not in result.output
