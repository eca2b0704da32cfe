"""Shared fixtures: a per-session template cache, and fresh sandbox databases."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _template_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build sandbox templates once per test session, in a private folder."""
    cache = tmp_path_factory.mktemp("template-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("PRIVACY_COURSE_CACHE", str(cache))
    yield cache
    mp.undo()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh copy of the default (webshop) sandbox."""
    from sandbox_cms.build import fresh_copy

    return fresh_copy(tmp_path / "sandbox.db")
