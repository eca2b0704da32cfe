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


@pytest.fixture
def cms(db_path: Path):
    """The default sandbox opened through the CMS (enforce mode); closed afterwards."""
    from sandbox_cms import open_sandbox

    with open_sandbox(db_path) as sandbox:
        yield sandbox


# -- the web app ---------------------------------------------------------------------------


@pytest.fixture
def app(db_path: Path):
    """The Flask app over a fresh copy of the default sandbox."""
    from sandbox_cms.web import create_app

    return create_app(db_path, config={"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def rendered(app):
    """The templates rendered during a test, with their context."""
    from flask import template_rendered

    seen: list[tuple[str, dict]] = []

    def record(sender, template, context, **extra):
        seen.append((template.name, context))

    template_rendered.connect(record, app)
    yield seen
    template_rendered.disconnect(record, app)
