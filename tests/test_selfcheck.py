"""Progress: recorded per exercise, survives a restart, robust to a corrupt file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grading.checks import PrincipleViolation
from grading.harness import Outcome
from grading.selfcheck import (
    PROGRESS_ENV,
    load_progress,
    progress_path,
    progress_rows,
    record_outcome,
    save_progress,
)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)


def _failed(ex_id="00-newsletter-consent"):
    v = PrincipleViolation("consent", "customer 3 got the mailing without consent")
    return Outcome(ex_id, "visible", False, v)


def test_env_var_wins_then_workspace_marker_then_nothing(tmp_path, monkeypatch):
    inner = tmp_path / "ws" / "01-training-data"
    inner.mkdir(parents=True)
    assert progress_path(inner) is None
    (tmp_path / "ws" / ".privacy-course").mkdir()
    assert progress_path(inner) == tmp_path / "ws" / ".privacy-course" / "progress.json"
    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path / "p.json"))
    assert progress_path(inner) == tmp_path / "p.json"


def test_outside_a_workspace_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert record_outcome(_failed()) is None
    assert list(tmp_path.iterdir()) == []


def test_progress_survives_a_restart_and_counts_attempts(tmp_path):
    path = tmp_path / "progress.json"
    record_outcome(_failed(), path)
    record_outcome(Outcome("00-newsletter-consent", "visible", True), path)
    # a "restart": nothing in memory, read the file again
    data = json.loads(path.read_text())
    entry = data["exercises"]["00-newsletter-consent"]["visible"]
    assert entry["passed"] is True and entry["attempts"] == 2 and entry["ever_passed"] is True
    rows = {r["id"]: r for r in progress_rows(path)}
    assert rows["00-newsletter-consent"]["status"] == "passed"


def test_a_failure_keeps_its_principle_message(tmp_path):
    path = tmp_path / "progress.json"
    record_outcome(_failed(), path)
    row = {r["id"]: r for r in progress_rows(path)}["00-newsletter-consent"]
    assert row["status"] == "failed"
    assert row["message"].startswith("Consent (art. 6(1)(a) and 7 GDPR): customer 3")


@pytest.mark.parametrize("garbage", ["{not json", '["a list"]', '{"exercises": 3}', "\udcff"])
def test_a_corrupt_file_is_set_aside_and_progress_restarts(tmp_path, garbage):
    path = tmp_path / "progress.json"
    path.write_text(garbage, encoding="utf-8", errors="surrogateescape")
    assert load_progress(path)["exercises"] == {}
    assert (tmp_path / "progress.json.corrupt").exists()
    record_outcome(_failed(), path)
    assert "00-newsletter-consent" in json.loads(path.read_text())["exercises"]


def test_save_is_atomic_no_temp_files_left(tmp_path):
    path = tmp_path / "progress.json"
    save_progress({"version": 1, "exercises": {}}, path)
    save_progress({"version": 1, "exercises": {"x": {}}}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    record_outcome(_failed(), path)
    before = path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    assert record_outcome(Outcome("00-newsletter-consent", "visible", True), path) is None
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json", "progress.json.lock"]


def test_concurrent_recorders_lose_no_update(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "progress.json"
    ids = [f"ex-{i}" for i in range(12)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(_record_passed, ids, [path] * len(ids)))
    assert sorted(json.loads(path.read_text())["exercises"]) == sorted(ids)


def _record_passed(exercise_id, path):
    return record_outcome(Outcome(exercise_id, "visible", True), path)


def test_unknown_exercises_in_the_file_are_still_shown(tmp_path):
    path = tmp_path / "progress.json"
    record_outcome(Outcome("99-retired", "visible", True), path)
    rows = {r["id"]: r for r in progress_rows(path)}
    assert rows["99-retired"]["status"] == "passed"
    assert rows["99-retired"]["title"] == "(unknown exercise)"


def test_progress_command_shows_status(tmp_path):
    from click.testing import CliRunner

    from grading.cli import main

    ws = tmp_path / "ws"
    record_outcome(_failed(), ws / ".privacy-course" / "progress.json")
    result = CliRunner().invoke(main, ["progress", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert "✗ 00-newsletter-consent" in result.output
    assert "Consent (art. 6(1)(a) and 7 GDPR)" in result.output
    assert Path(str(ws)).exists()
