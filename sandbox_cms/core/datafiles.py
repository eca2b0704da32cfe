"""Reading the project's data files (``datasets/``): one function, one kind of message."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from sandbox_cms.core.errors import SandboxError

_PACKAGE = Path(__file__).resolve().parent.parent
CHECKOUT = _PACKAGE.parent
"""The folder above the package: the repository in a checkout (or an editable install)."""
SHIPPED = _PACKAGE / "_data"
"""Where a built wheel carries ``datasets/`` and ``course/`` (copied in by ``setup.py``);
absent in a checkout, whose own folders are used instead."""


def data_folder(name: str, env: str | None = None) -> Path:
    """A data folder of the project: ``$env`` if set, else the copy shipped in the wheel,
    else the checkout's own folder (never a same-named folder elsewhere on ``sys.path``)."""
    if env and os.environ.get(env):
        return Path(os.environ[env])
    shipped = SHIPPED / name
    return shipped if shipped.is_dir() else CHECKOUT / name


def in_checkout() -> bool:
    """True when running from the repository (editable install), not from a wheel."""
    return not SHIPPED.is_dir() and (CHECKOUT / "pyproject.toml").is_file()


def home_folder(name: str) -> Path:
    """Default place for a learner's or instructor's working folder: inside the checkout
    (gitignored) when running from one, else ``~/privacy-course`` (``workspace``) or
    ``~/privacy-course-<name>``."""
    if in_checkout():
        return CHECKOUT / name
    base = Path.home() / "privacy-course"
    return base if name == "workspace" else base.with_name(f"privacy-course-{name}")


# The data folder (scenarios, policy, reference lists, grading principles): shipped with the
# package, next to it in a checkout, or wherever PRIVACY_COURSE_DATASETS points.
DATASETS = data_folder("datasets", "PRIVACY_COURSE_DATASETS")
COURSE = data_folder("course")
"""The course sources (one folder per assignment, with solutions and hidden tests)."""


def read_toml(path: str | Path, error: type[SandboxError] = SandboxError,
              what: str = "file") -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file raises ``error`` naming the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} is missing") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc})") from None
