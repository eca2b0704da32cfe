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


def _made(args: list[str]) -> list[str]:
    """The folders made searchable (``--perms 0755 --dir``), in order."""
    return [args[i + 3] for i, arg in enumerate(args)
            if arg == "--perms" and args[i + 1] == "0755" and args[i + 2] == "--dir"]


def test_the_way_to_every_bound_folder_is_searchable_by_the_grading_user(
        tmp_path: Path) -> None:
    """Bubblewrap makes the folders on the way to a bind 0700: a kernel running as the
    grading user could reach neither the Python under a hidden home nor its own folders."""
    home = tmp_path / "home"
    python = home / ".pyenv" / "versions" / "3.11"
    work = tmp_path / "tmp" / "grading-x"
    for folder in (python, work / "kernel" / "tmp", work / "root" / "autograded" / "s" / "a"):
        folder.mkdir(parents=True)
    args = sandbox_command(
        ["python"], writable=[str(work / "kernel" / "tmp"),
                              str(work / "root" / "autograded" / "s" / "a")],
        readonly=[[str(tmp_path), str(work / "kernel" / "tmp" / "cache")]],
        hidden=[str(home), str(tmp_path / "tmp"), str(work)], keep=[str(python)],
        cwd="/", env={}, user=[65534, 65534])
    assert _made(args) == [
        str(home / ".pyenv"), str(home / ".pyenv" / "versions"),
        str(work), str(work / "kernel"), str(work / "root"), str(work / "root" / "autograded"),
        str(work / "root" / "autograded" / "s"), str(work / "kernel" / "tmp")]
    # each made before the bind that needs it
    assert args.index(str(home / ".pyenv" / "versions")) < args.index("--ro-bind", 4)


def test_a_folder_the_grading_user_may_not_enter_is_emptied_around_what_it_needs(
        tmp_path: Path) -> None:
    """Python under root's 0700 home while the instructor's HOME is elsewhere (a hub): the
    closed folder is emptied and the Python bound back in, so the grading user reaches it."""
    from grading.isolation import _closed_ancestors

    closed = tmp_path / "root"
    python = closed / ".pyenv" / "versions" / "3.11"
    python.mkdir(parents=True)
    closed.chmod(0o700)
    found = _closed_ancestors([str(python)])  # pytest's own folders above are 0700 too
    assert str(closed) in found and str(closed / ".pyenv") not in found
    args = sandbox_command(["python"], writable=[], readonly=[], hidden=[str(closed)],
                           keep=[str(python)], cwd="/", env={}, user=[65534, 65534])
    assert _mounts(args) == [("empty", str(closed)), ("ro", str(python))]
    assert _made(args) == [str(closed / ".pyenv"), str(closed / ".pyenv" / "versions")]
