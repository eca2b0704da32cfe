"""Which folders the grading kernel's sandbox empties: a checkout that lies under a hidden
folder (CI clones into /tmp) keeps its Python and code visible, while the course sources
inside it stay hidden; a hidden folder is emptied whole, never entry by entry (files that
come and go in a busy /tmp must not break the sandbox's mounts)."""

from __future__ import annotations

from pathlib import Path

from grading.isolation import sandbox_command


def _mounts(args: list[str]) -> list[tuple[str, str]]:
    """(kind, path) of each mount, in order: 'empty' for a tmpfs, 'ro' for a read-only bind."""
    found = []
    for i, arg in enumerate(args):
        if arg == "--tmpfs":
            found.append(("empty", args[i + 1]))
        elif arg == "--ro-bind" and args[i + 1] != "/":
            found.append(("ro", args[i + 2]))
    return found


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
    mounts = _mounts(args)
    assert mounts == [("empty", str(tmp_path)), ("ro", str(repo)),
                      ("empty", str(repo / "course")), ("empty", str(repo / "classroom"))]


def test_a_hidden_folder_without_kept_code_is_emptied_whole(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    args = sandbox_command(["python"], writable=[], readonly=[],
                           hidden=[str(tmp_path), str(tmp_path / "a")], keep=["/usr"],
                           cwd="/", env={})
    assert _mounts(args) == [("empty", str(tmp_path))]
