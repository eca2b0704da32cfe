"""Ship the course's data folders in the wheel.

``datasets/`` (scenarios, policy, reference lists, principles) and ``course/`` (the source
notebooks) live at the top of the repository; a built wheel carries them as
``sandbox_cms/_data/`` so that a plain ``pip install`` of it runs the course
(``sandbox_cms.core.datafiles`` finds them there; a checkout uses its own folders). Everything
else is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA = ("datasets", "course")
SKIP = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


class BuildWithData(build_py):
    """``build_py`` that also copies the data folders into ``sandbox_cms/_data``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own folders
        target = Path(self.build_lib) / "sandbox_cms" / "_data"
        for name in DATA:
            if (HERE / name).is_dir():
                shutil.rmtree(target / name, ignore_errors=True)
                shutil.copytree(HERE / name, target / name, ignore=SKIP)


setup(cmdclass={"build_py": BuildWithData})
