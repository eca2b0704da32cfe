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


TEST_HIDDEN_SEED = 20261201
"""The fixed seed from which the tests draw the hidden variants' parameters."""


@pytest.fixture(scope="session", autouse=True)
def hidden_variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hidden-variant parameters file for every registered exercise, drawn from a fixed
    test seed as ``privacy-course release`` draws one per class, and named in the
    environment as ``privacy-course grade`` does: the exercise proofs run the hidden tests."""
    import random

    from grading.harness import exercises
    from grading.hidden import HIDDEN_ENV, HIDDEN_FILE, draw, write

    known = exercises()
    visible = {e.id: e.visible.seed for e in known.values()}
    path = write(tmp_path_factory.mktemp("hidden") / HIDDEN_FILE,
                 draw(known, random.Random(TEST_HIDDEN_SEED), avoid=visible))
    mp = pytest.MonkeyPatch()
    mp.setenv(HIDDEN_ENV, str(path))
    yield path
    mp.undo()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh copy of the default (webshop) sandbox."""
    from sandbox_cms.data.build import fresh_copy

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
