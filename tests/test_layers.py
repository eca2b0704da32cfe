"""The package's layout: the public API the notebooks use, and a light ``import sandbox_cms``.

The layering itself (no upward imports, no cycles) is checked by ``lint-imports`` with the
contracts in pyproject.toml; ``test_contracts_hold`` runs it here too.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sandbox_cms

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "course").glob("*/*.ipynb"))


def notebook_imports(path: Path) -> list[tuple[str, str, str]]:
    """Every ``sandbox_cms`` import in the notebook's code cells: (cell id, module, name)."""
    found = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:  # a student cell with a blank to fill in
            continue
        cell_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sandbox_cms"):
                found += [(cell_id, node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(cell_id, alias.name, "") for alias in node.names
                          if alias.name.startswith("sandbox_cms")]
    return found


def test_notebooks_exist() -> None:
    assert len(NOTEBOOKS) >= 5
    assert any(notebook_imports(path) for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_notebooks_import_only_the_public_api(path: Path) -> None:
    """A notebook imports names from ``sandbox_cms`` itself, each one in ``__all__``: the
    layout inside the package can change without breaking a learner's notebook."""
    for cell_id, module, name in notebook_imports(path):
        assert module == "sandbox_cms" and name, (
            f"{path.name} cell {cell_id}: import from sandbox_cms, not {module}")
        assert name in sandbox_cms.__all__, (
            f"{path.name} cell {cell_id}: {name} is not in sandbox_cms.__all__")


def test_every_public_name_resolves() -> None:
    assert set(sandbox_cms.__all__) == {"__version__", *sandbox_cms._EXPORTS}
    for name in sandbox_cms.__all__:
        value = getattr(sandbox_cms, name)
        if name != "__version__":
            assert value.__module__ == sandbox_cms._EXPORTS[name], name
    with pytest.raises(AttributeError):
        sandbox_cms.no_such_name  # noqa: B018


def test_the_public_api_is_the_facade() -> None:
    from sandbox_cms.cms import fresh_sandbox, open_sandbox

    assert sandbox_cms.fresh_sandbox is fresh_sandbox
    assert sandbox_cms.open_sandbox is open_sandbox


def test_import_is_light() -> None:
    """``import sandbox_cms`` (as the Jupyter server's proxy entry and the CLI do) loads no
    web framework, no Faker and no widgets until a name that needs them is asked for."""
    code = (
        "import sys, sandbox_cms, sandbox_cms.web.proxy\n"
        "heavy = [m for m in ('flask', 'faker', 'ipywidgets', 'sandbox_cms.cms') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == ""


def test_contracts_hold() -> None:
    """The import-linter contracts (pyproject.toml): layers, no cycles, no grading import."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([lint], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _protocol_members(protocol: type) -> set[str]:
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (object,) or cls.__module__ == "typing":
            continue
        names |= set(getattr(cls, "__annotations__", {}))
        names |= {n for n in vars(cls) if not n.startswith("__")
                  and n not in ("_abc_impl", "_is_protocol")}
    return names


def test_the_facade_has_what_the_mechanisms_ask_of_it(cms) -> None:
    """The mechanisms know the sandbox only through Protocols of their own layer (no import
    of ``sandbox_cms.cms``); the facade and the processing context must still fit them."""
    from sandbox_cms.privacy import access, actions, host

    for protocol, obj in ((host.SandboxHost, cms), (access.ProcessingHost, cms)):
        members = _protocol_members(protocol)
        assert {"connection", "clock", "audit", "_internal", "dsr"} & members
        assert not {name for name in members if not hasattr(obj, name)}, protocol
    with cms.processing("newsletter") as p:
        members = _protocol_members(actions.Processing)
        assert {"require", "flush", "sandbox"} <= members
        assert not {name for name in members if not hasattr(p, name)}
        assert not {name for name in _protocol_members(actions._Sandbox)
                    if not hasattr(p.sandbox, name)}
