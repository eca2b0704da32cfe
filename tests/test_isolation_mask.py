"""Which folders the grading kernel's sandbox empties: a checkout that lies under a hidden
folder (CI clones into /tmp) keeps its Python and code visible, while the course sources
inside it stay hidden."""

from __future__ import annotations

from pathlib import Path

from grading.isolation import sandbox_command


def _masked(args: list[str]) -> set[str]:
    return {args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"} | {
        args[i + 2] for i, a in enumerate(args)
        if a == "--ro-bind" and args[i + 1] == "/dev/null"}


def test_a_checkout_under_a_hidden_folder_keeps_its_python_but_not_its_sources(
        tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    for sub in (".venv/lib/site-packages", ".venv/bin", "course/01", "grading", "classroom"):
        (repo / sub).mkdir(parents=True)
    (tmp_path / "other-user-file").write_text("x")
    (tmp_path / "someone-else").mkdir()
    args = sandbox_command(
        ["python"], writable=[], readonly=[],
        hidden=[str(tmp_path), str(repo / "course"), str(repo / "classroom")],
        keep=[str(repo), str(repo / ".venv")], cwd=str(tmp_path), env={})
    masked = _masked(args)
    assert str(repo / "course") in masked and str(repo / "classroom") in masked
    assert str(tmp_path / "someone-else") in masked
    assert str(tmp_path / "other-user-file") in masked
    assert not any(m == str(repo) or m.startswith(str(repo / ".venv")) or
                   m.startswith(str(repo / "grading")) for m in masked), masked
