"""The hidden variants' parameters: drawn per class at release, kept with the gradebook.

The course package declares only the *shape* of each exercise's hidden variant (scenario,
size, clock). Its seed is drawn when the instructor runs ``privacy-course release`` and
written to ``hidden-variants.toml`` in the classroom folder (beside ``gradebook.db``, never
under ``release/``), one table per exercise::

    [exercises."00-newsletter-consent"]
    seed = 1734029117

``privacy-course grade`` names that file in ``$PRIVACY_COURSE_HIDDEN_VARIANTS`` while
nbgrader autogrades (the grading kernels inherit it). Without it ``check(...,
variant="hidden")`` is refused: a learner cannot run, and so cannot memorise, the hidden
test. The repository's tests get a file drawn from a fixed seed (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import random
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sandbox_cms.core.errors import CourseError

HIDDEN_ENV = "PRIVACY_COURSE_HIDDEN_VARIANTS"
HIDDEN_FILE = "hidden-variants.toml"
SEED_RANGE = (1_000, 2**31 - 1)
REFUSAL = (
    "the hidden test runs only when your instructor grades: its parameters are drawn for "
    "your class and kept with the gradebook, not in the course. Run the visible test "
    "(check({exercise!r}, your_function)) to check your work"
)


class HiddenVariantUnavailable(CourseError):
    """``variant="hidden"`` was asked for outside the instructor's grading run."""


def draw(exercise_ids: Iterable[str], rng: random.Random | None = None,
         avoid: Mapping[str, int | None] | None = None) -> dict[str, dict[str, int]]:
    """Fresh parameters per exercise (a seed unlike the visible variant's, ``avoid``)."""
    rng = rng or random.SystemRandom()
    drawn = {}
    for exercise_id in sorted(exercise_ids):
        seed = rng.randint(*SEED_RANGE)
        while avoid and seed == avoid.get(exercise_id):
            seed = rng.randint(*SEED_RANGE)
        drawn[exercise_id] = {"seed": seed}
    return drawn


def write(path: Path, parameters: Mapping[str, Mapping[str, int]]) -> Path:
    """Write the parameters file (readable by its owner only)."""
    lines = [
        "# Hidden-variant parameters of this class, drawn by `privacy-course release`.",
        "# Keep this file with the gradebook; never hand it out (see docs/threat-model.md).",
        "",
    ]
    for exercise_id in sorted(parameters):
        lines.append(f'[exercises."{exercise_id}"]')
        lines += [f"{key} = {int(value)}" for key, value in sorted(parameters[exercise_id].items())]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return path


def load(path: Path) -> dict[str, dict[str, int]]:
    """The parameters in ``path``; a damaged file is a clear error naming it."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{path}: cannot read the hidden-variant parameters ({exc})") from None
    table = raw.get("exercises")
    if not isinstance(table, dict):
        raise CourseError(f"{path}: no [exercises.\"<id>\"] tables")
    found = {}
    for exercise_id, entry in table.items():
        seed = entry.get("seed") if isinstance(entry, dict) else None
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise CourseError(f"{path}: exercise {exercise_id!r} needs a whole-number seed")
        found[exercise_id] = {"seed": seed}
    return found


def ensure_drawn(folder: Path, exercise_ids: Iterable[str],
                 avoid: Mapping[str, int | None] | None = None) -> Path:
    """The class's parameters file in ``folder``: existing entries are kept (a second
    release does not change the hidden tests), missing exercises are drawn."""
    path = Path(folder) / HIDDEN_FILE
    known = load(path) if path.exists() else {}
    missing = [e for e in exercise_ids if e not in known]
    if missing or not path.exists():
        write(path, {**known, **draw(missing, avoid=avoid)})
    return path


def hidden_seed(exercise_id: str) -> int:
    """The drawn seed of one exercise's hidden variant, or a refusal outside grading."""
    name = os.environ.get(HIDDEN_ENV)
    if not name or not Path(name).is_file():
        raise HiddenVariantUnavailable(REFUSAL.format(exercise=exercise_id))
    parameters = load(Path(name))
    if exercise_id not in parameters:
        raise HiddenVariantUnavailable(
            f"{REFUSAL.format(exercise=exercise_id)} (the class's parameters have no entry "
            f"for {exercise_id!r}: run `privacy-course release` again)")
    return parameters[exercise_id]["seed"]


@contextlib.contextmanager
def available(path: Path) -> Iterator[None]:
    """Name the parameters file in the environment for the body only (the grade step)."""
    previous = os.environ.get(HIDDEN_ENV)
    os.environ[HIDDEN_ENV] = str(Path(path).resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(HIDDEN_ENV, None)
        else:
            os.environ[HIDDEN_ENV] = previous
