"""Reading the project's data files (``datasets/``): one function, one kind of message."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from sandbox_cms.errors import SandboxError

# The data folder (scenarios, policy, reference lists, grading principles): next to the
# package in a checkout, or wherever PRIVACY_COURSE_DATASETS points.
DATASETS = Path(
    os.environ.get("PRIVACY_COURSE_DATASETS")
    or Path(__file__).resolve().parent.parent / "datasets"
)


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
