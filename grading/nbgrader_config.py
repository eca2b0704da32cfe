"""The nbgrader configuration of the course, in one place.

Course sources stay in ``course/`` (in git); nbgrader's working folders (release/,
submitted/, autograded/, feedback/, gradebook.db) live in a classroom folder outside git.
nbgrader joins ``CourseDirectory.root`` with ``source_directory``; an absolute
``source_directory`` wins that join (``os.path.join``), so the classroom points at
``course/`` without copying or symlinking it.

The same settings are written as ``nbgrader_config.py`` into the classroom folder, so an
instructor who runs ``nbgrader`` or the formgrader there gets exactly what the
``privacy-course`` commands use. That file is the instructor's too: lines below its
``KEEP_BELOW`` marker (e.g. ``c.Exchange.root = "/srv/nbgrader/exchange"``) survive every
command and apply to the ``privacy-course`` commands as well; a file without our header is
never rewritten at all.

The exchange (where ``nbgrader release_assignment`` puts assignments for learners to fetch and
``collect`` picks up submissions) is ``<classroom>/exchange`` unless ``$PRIVACY_COURSE_EXCHANGE``
or the classroom file says otherwise; on a shared server it is one folder all users reach
(``deploy/``, ``docs/jupyterhub.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from sandbox_cms.core.datafiles import CHECKOUT, COURSE, home_folder

REPO = CHECKOUT
COURSE_DIR = COURSE
DEFAULT_CLASSROOM = home_folder("classroom")
EXCHANGE_ENV = "PRIVACY_COURSE_EXCHANGE"
SOURCE_ENV = "PRIVACY_COURSE_SOURCE"
"""Where the course sources are, instead of the installed ``course/``."""
HEADER = "# Written by `privacy-course`; edit grading/nbgrader_config.py instead."
KEEP_BELOW = "# --- Your own settings below this line are kept (and win over the lines above). ---"

TEMPLATES = Path(__file__).resolve().parent / "templates"
"""nbconvert templates of the course (``base/mathjax.html.j2``: nothing from a CDN)."""



def _nbgrader_templates() -> str:
    """nbgrader's formgrader and feedback templates (what nbgrader itself adds)."""
    import importlib.util

    spec = importlib.util.find_spec("nbgrader")
    package = Path(spec.origin).parent if spec and spec.origin else Path("nbgrader")
    return str(package / "server_extensions" / "formgrader" / "templates")


CELL_TIMEOUT = 60
"""Seconds one cell may run during autograding (``c.Execute.timeout``, the key that works)."""

FEEDBACK_PREPROCESSORS = (
    # the rubric and model answer put beside each written answer for the formgrader
    # (grading.rubric) never reach a learner
    "grading.rubric.DropRubrics",
    "nbgrader.preprocessors.GetGrades",
    # Autograding restores hidden tests into the test cells; strip them again (source and
    # tracebacks), and cut every test cell's error to its message, before the notebook is
    # rendered as the learner's feedback.
    "grading.preprocessors.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
)

AUTOGRADE_PREPROCESSORS = (
    # nbgrader's Execute (c.Execute settings apply), plus: each check() test cell leaves a
    # receipt that this process re-checks right after the cell; a pass the re-check does not
    # confirm fails that cell only, saying its grade was forged (grading.receipts).
    "grading.preprocessors.VerifiedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
)
"""nbgrader 0.9.6's autograde steps with ours inserted (keep in step with its Autograde)."""


def exchange_root(root: Path) -> Path:
    """The exchange folder: ``$PRIVACY_COURSE_EXCHANGE``, else ``<classroom>/exchange``."""
    return Path(os.environ.get(EXCHANGE_ENV) or Path(root) / "exchange").resolve()


SOURCE_LINK = "source"
"""The classroom's link to the course sources (nbgrader's usual ``<root>/source``)."""


def link_source(root: Path, source: Path) -> Path:
    """Where the classroom's own file and the formgrader find the sources: the sources
    themselves when they sit inside the classroom, else a symlink ``<root>/source`` to them.

    The formgrader links each assignment to ``<source relative to the classroom>``; a path
    that starts with ``..`` leaves Jupyter's root (the instructor's JupyterLab runs on the
    classroom) and its Edit link was a 404. A link pointing elsewhere is re-pointed (the
    course moved, or another ``--course`` is used now); a real ``source`` folder of the
    instructor's own is never touched: then the absolute path is used."""
    root, source = Path(root).resolve(), Path(source).resolve()
    if source.is_relative_to(root):
        return source
    link = root / SOURCE_LINK
    if link.is_symlink() and link.resolve() != source:
        link.unlink()
    if not link.exists() and not link.is_symlink():
        try:
            link.symlink_to(source, target_is_directory=True)
        except OSError:
            return source  # no symlinks here (some Windows setups)
    return link if link.is_symlink() and link.resolve() == source else source


def settings(root: Path, source: Path = COURSE_DIR,
             cell_timeout: int = CELL_TIMEOUT) -> dict[str, dict[str, object]]:
    """The settings as plain data: ``{section: {key: value}}``."""
    root, source = Path(root).resolve(), Path(source).resolve()
    return {
        "CourseDirectory": {
            "root": str(root),
            "source_directory": str(source),
            "course_id": "privacy-course",
        },
        "Exchange": {"root": str(exchange_root(root))},
        "Execute": {"timeout": cell_timeout, "interrupt_on_timeout": True},
        "GenerateFeedback": {"preprocessors": list(FEEDBACK_PREPROCESSORS)},
        # the formgrader's and feedback's pages load no MathJax from a CDN (offline): our
        # base/mathjax.html.j2 is found before nbconvert's; nbgrader's own templates next
        "HTMLExporter": {"extra_template_basedirs": [str(TEMPLATES), _nbgrader_templates()]},
        "Autograde": {"autograde_preprocessors": list(AUTOGRADE_PREPROCESSORS)},
        "ClearSolutions": {
            "code_stub": {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
        },
    }


def make_config(root: Path, source: Path = COURSE_DIR,
                cell_timeout: int = CELL_TIMEOUT) -> Config:
    """A traitlets Config for nbgrader's apps and API, with the classroom's own
    ``nbgrader_config.py`` (if any) applied on top, as nbgrader itself would."""
    config = Config()
    for section, values in settings(root, source, cell_timeout).items():
        for key, value in values.items():
            if key.endswith("preprocessors"):
                value = [import_item(name) for name in value]  # converters need classes
            setattr(config[section], key, value)
    own = Path(root) / "nbgrader_config.py"
    if own.is_file():
        config.merge(PyFileConfigLoader(own.name, str(own.parent)).load_config())
        named = Path(config.CourseDirectory.source_directory)
        if named != Path(source) and named.resolve() == Path(source).resolve():
            # the file names the sources through the classroom's link (for the formgrader);
            # the commands use the real folder, which the grading sandbox also knows
            config.CourseDirectory.source_directory = str(Path(source).resolve())
    return config


def config_file_text(root: Path, source: Path = COURSE_DIR,
                     cell_timeout: int = CELL_TIMEOUT) -> str:
    """The same settings as the text of an ``nbgrader_config.py`` (the sources named
    through the classroom's link, see :func:`link_source`)."""
    lines = [
        HEADER,
        "from traitlets.utils.importstring import import_item",
        "",
        "c = get_config()  # noqa: F821",
    ]
    data = settings(root, source, cell_timeout)
    data["CourseDirectory"]["source_directory"] = str(link_source(root, source))
    for section, values in data.items():
        for key, value in values.items():
            if key.endswith("preprocessors"):
                lines.append(f"c.{section}.{key} = [import_item(n) for n in {value!r}]")
            else:
                lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines) + "\n"


def write_config_file(root: Path, source: Path = COURSE_DIR,
                      cell_timeout: int = CELL_TIMEOUT) -> Path:
    """Write ``nbgrader_config.py`` into the classroom folder (idempotent).

    Only our part (above ``KEEP_BELOW``) is rewritten; the instructor's lines below it are
    kept, and a file the instructor wrote (without our header) is left alone."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "nbgrader_config.py"
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old is not None and not old.startswith(HEADER):
        return path
    own = old.split(KEEP_BELOW + "\n", 1)[1] if old and KEEP_BELOW in old else ""
    text = config_file_text(root, source, cell_timeout) + "\n" + KEEP_BELOW + "\n" + own
    if old != text:
        path.write_text(text, encoding="utf-8")
    return path
