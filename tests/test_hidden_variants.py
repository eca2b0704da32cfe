"""Hidden means hidden: the hidden variants' seeds are drawn per class at release, kept with
the gradebook, and only the grade step hands them to the grading kernel.

A solution that memorises answers keyed on the sandbox's seed (here: the visible answer and
the answer under the seed the package used to ship) passes under those seeds and fails the
hidden test under a drawn seed, for exercises of three modules.
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import pytest
from notebook_tools import solution

from grading import check, get_exercise, run
from grading.course import Classroom
from grading.harness import exercises
from grading.hidden import (
    HIDDEN_ENV,
    HIDDEN_FILE,
    HiddenVariantUnavailable,
    available,
    draw,
    ensure_drawn,
    load,
    write,
)
from grading.nbgrader_config import COURSE_DIR

OLD_PACKAGE_SEEDS = {"01-real-looking": 19870611, "02-transfer-plan": 4242,
                     "03-consent-forms": 116}
"""The hidden seeds the package shipped before they were drawn per class."""


def memorised(exercise_id: str, old_seeds: Path, monkeypatch: pytest.MonkeyPatch):
    """A solution that answers from a table keyed on the seed it reads in the sandbox: the
    reference's answers on the visible variant and under the package's old hidden seed
    (for an unknown seed it gives the old hidden answer)."""
    table: dict[str | None, object] = {}
    reference = solution(exercise_id)

    def record(cms, *args):
        result = reference(cms, *args)
        table[cms.meta("seed")] = copy.deepcopy(result)
        return result

    with monkeypatch.context() as m:
        m.setenv(HIDDEN_ENV, str(old_seeds))
        for variant in ("visible", "hidden"):
            assert run(exercise_id, record, variant).passed
    old = str(OLD_PACKAGE_SEEDS[exercise_id])

    def memoriser(cms, *args):
        return copy.deepcopy(table.get(cms.meta("seed"), table[old]))

    return memoriser


@pytest.fixture
def old_seeds(tmp_path: Path) -> Path:
    return write(tmp_path / HIDDEN_FILE,
                 {e: {"seed": s} for e, s in OLD_PACKAGE_SEEDS.items()})


@pytest.mark.parametrize("exercise_id", sorted(OLD_PACKAGE_SEEDS))
def test_a_memorised_answer_fails_the_hidden_test_under_a_drawn_seed(
        exercise_id, old_seeds, monkeypatch, hidden_variants):
    memoriser = memorised(exercise_id, old_seeds, monkeypatch)
    with monkeypatch.context() as m:  # the attack works where the seed is known ...
        m.setenv(HIDDEN_ENV, str(old_seeds))
        assert run(exercise_id, memoriser, "hidden").passed
    assert run(exercise_id, memoriser, "visible").passed
    assert load(hidden_variants)[exercise_id]["seed"] != OLD_PACKAGE_SEEDS[exercise_id]
    outcome = run(exercise_id, memoriser, "hidden")  # ... and not under the drawn seed
    assert not outcome.passed
    assert outcome.principle != "task" or "no answer" in outcome.message, outcome.message


def test_the_package_declares_no_hidden_seed():
    for ex in exercises().values():
        assert ex.hidden.seed is None, ex.id


def test_without_the_instructors_file_the_hidden_test_is_refused(monkeypatch, capsys):
    monkeypatch.delenv(HIDDEN_ENV, raising=False)
    ex = "00-newsletter-consent"
    with pytest.raises(HiddenVariantUnavailable, match="only when your instructor grades"):
        run(ex, lambda cms: [], "hidden")
    with pytest.raises(HiddenVariantUnavailable, match="only when your instructor grades"):
        check(ex, lambda cms: [], variant="hidden")
    with pytest.raises(HiddenVariantUnavailable):
        get_exercise(ex).variant("hidden")
    assert get_exercise(ex).variant("visible") == get_exercise(ex).visible


def test_a_file_without_the_exercise_is_refused_too(tmp_path, monkeypatch):
    monkeypatch.setenv(HIDDEN_ENV, str(write(tmp_path / HIDDEN_FILE, {"x": {"seed": 5}})))
    with pytest.raises(HiddenVariantUnavailable, match="no entry for '00-newsletter-consent'"):
        get_exercise("00-newsletter-consent").variant("hidden")


def test_the_drawn_seed_is_the_hidden_variants_seed(tmp_path, monkeypatch):
    monkeypatch.setenv(HIDDEN_ENV, str(write(tmp_path / HIDDEN_FILE,
                                             {"00-newsletter-consent": {"seed": 123457}})))
    seen = []
    run("00-newsletter-consent", lambda cms: seen.append(cms.meta("seed")) or [], "hidden")
    assert seen == ["123457"]


def test_a_second_release_keeps_the_drawn_seeds_and_draws_missing_ones(tmp_path):
    first = load(ensure_drawn(tmp_path, ["a", "b"]))
    again = load(ensure_drawn(tmp_path, ["a", "b", "c"]))
    assert {k: again[k] for k in first} == first and set(again) == {"a", "b", "c"}
    assert oct((tmp_path / HIDDEN_FILE).stat().st_mode & 0o777) == "0o600"


def test_drawing_avoids_the_visible_seed():
    class Stubborn(random.Random):
        values = iter([7, 7, 9])

        def randint(self, a, b):
            return next(self.values)

    assert draw(["x"], Stubborn(), avoid={"x": 7}) == {"x": {"seed": 9}}


def test_available_names_the_file_for_the_grade_step_only(tmp_path, monkeypatch):
    monkeypatch.delenv(HIDDEN_ENV, raising=False)
    path = write(tmp_path / HIDDEN_FILE, {"x": {"seed": 5}})
    with available(path):
        assert os.environ[HIDDEN_ENV] == str(path.resolve())
    assert HIDDEN_ENV not in os.environ


def test_release_keeps_the_drawn_seeds_beside_the_gradebook_not_in_release(tmp_path,
                                                                          monkeypatch):
    monkeypatch.delenv(HIDDEN_ENV, raising=False)
    room = Classroom(tmp_path / "classroom", COURSE_DIR)
    results = room.release("00-orientation")
    assert [r.ok for r in results] == [True], results
    drawn = load(room.root / HIDDEN_FILE)
    assert set(drawn) == set(exercises())
    released = [p for p in (room.root / "release").rglob("*") if p.is_file()]
    assert released
    for path in released:
        text = path.read_bytes().decode("utf-8", "replace")
        for entry in drawn.values():
            assert str(entry["seed"]) not in text, path
    assert HIDDEN_ENV not in os.environ  # release does not hand the seeds to anyone


def test_the_grade_step_names_the_file_while_nbgrader_autogrades(tmp_path, monkeypatch):
    monkeypatch.delenv(HIDDEN_ENV, raising=False)
    room = Classroom(tmp_path / "classroom", COURSE_DIR)
    seen = []
    from grading.course import StepResult

    def fake_worker(self, workers, assignment, student, hidden_file):
        # each submission's worker gets the class's file (and, in its sandbox, only the
        # seeds of its own assignment: grading.isolation.prepare)
        seen.append(str(hidden_file))
        return tmp_path / "worker", ""

    monkeypatch.setattr(Classroom, "_api", lambda self: (self.root / "gradebook.db").touch())
    monkeypatch.setattr(Classroom, "submissions",
                        lambda self, a=None: [("00-orientation", "s1")])
    monkeypatch.setattr(Classroom, "_run_worker", fake_worker)
    monkeypatch.setattr(Classroom, "_merge",
                        lambda self, w, a, s, stopped, keep_manual: StepResult("grade", a, s, True))
    room.root.mkdir(parents=True)
    assert [r.ok for r in room.grade()] == [True]
    assert [str(Path(p).resolve()) for p in seen] == [str((room.root / HIDDEN_FILE).resolve())]
    assert HIDDEN_ENV not in os.environ


def test_a_learners_jupyterlab_never_gets_the_hidden_parameters(tmp_path, monkeypatch):
    from grading import workspace

    seen = {}
    monkeypatch.setenv(HIDDEN_ENV, str(tmp_path / HIDDEN_FILE))
    monkeypatch.setattr(workspace, "run_until_stopped",
                        lambda cmd, cwd, env, **kw: seen.update(env) or 0)
    assert workspace.launch(tmp_path, open_browser=False) == 0
    assert seen and HIDDEN_ENV not in seen
