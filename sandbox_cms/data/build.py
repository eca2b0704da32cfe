"""Build a sandbox database from a scenario, atomically, and hand out fresh copies fast.

``build_sandbox`` writes into a temporary file next to the target and renames it into place
only when complete: an interrupted run leaves no half database and never replaces an
existing one unless ``force`` is given. ``fresh_copy`` keeps one built template per
(scenario, size, seed, generator version) in a cache folder and copies it, so a notebook or
a test gets a clean sandbox in milliseconds instead of regenerating it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faker

from sandbox_cms.core import schema
from sandbox_cms.core.datafiles import DATASETS
from sandbox_cms.core.errors import SandboxError, SandboxExists
from sandbox_cms.core.version import __version__
from sandbox_cms.data import parts, synth
from sandbox_cms.data.scenario import Scenario, load_scenario
from sandbox_cms.privacy import install, policy

GENERATOR_VERSION = f"sandbox_cms {__version__}; faker {faker.VERSION}"
DEFAULT_SCENARIO = "webshop"
# Build-time settings: the file is private until renamed into place, so no journal is needed.
BULK_PRAGMAS = (
    "PRAGMA page_size = 16384",  # before the first table; larger pages load faster
    "PRAGMA journal_mode = OFF",
    "PRAGMA synchronous = OFF",
    "PRAGMA cache_size = -200000",
    "PRAGMA temp_store = MEMORY",
)
PARALLEL_FROM = 50_000  # customers; below this a second process costs more than it saves
Progress = Callable[[int], None]  # called with the number of customers just written


@dataclass(frozen=True)
class BuildSummary:
    path: Path
    scenario: str
    seed: int
    customers: int
    rows: dict[str, int]
    seconds: float


def build_sandbox(
    path: str | Path,
    scenario: str | Path | Scenario = DEFAULT_SCENARIO,
    customers: int | None = None,
    seed: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildSummary:
    """Generate a sandbox database at ``path`` from a scenario (name, TOML path or object)."""
    started = time.perf_counter()
    spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    spec = spec.with_overrides(customers=customers, seed=seed)
    target = Path(path)
    if target.is_dir():
        raise SandboxError(f"{target} is a folder: give the path of a database file")
    if target.exists() and not force:
        raise SandboxExists(f"{target} already exists (use --force to replace it)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".building", dir=target.parent
        )
    except OSError as exc:
        raise SandboxError(f"cannot write in {target.parent}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        rows = _write(tmp, spec, progress)
        # the mode of an ordinary new file, not mkstemp's 0600: synthetic data only, and a
        # grading kernel running as another user reads the templates (grading.isolation)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except (OSError, sqlite3.Error) as exc:  # e.g. a full disk; nothing is left behind
        raise SandboxError(f"building {target} failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return BuildSummary(
        target, spec.name, spec.seed, spec.customers, rows, time.perf_counter() - started
    )


def _write(path: Path, spec: Scenario, progress: Progress | None) -> dict[str, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in BULK_PRAGMAS:
            conn.execute(pragma)
        conn.execute("BEGIN")
        schema.create_tables(conn)
        _write_fixed_rows(conn, spec)
        conn.execute("COMMIT")  # ATTACH (below) is not allowed inside a transaction
        counts = dict.fromkeys(parts.TABLES, 0)
        workers = 0 if spec.customers < PARALLEL_FROM else min(2, os.cpu_count() or 1)
        with tempfile.TemporaryDirectory(prefix=".parts-", dir=path.parent) as folder:
            for part in parts.make_parts(spec, Path(folder), workers):
                customers = parts.copy_part(conn, part, counts)
                part.unlink()
                if progress:
                    progress(customers)
        conn.execute("BEGIN")
        schema.create_indexes(conn)
        install.install_policy(conn)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = DELETE")
        counts["products"] = len(spec.products)
        return counts
    finally:
        conn.close()


def _write_fixed_rows(conn: sqlite3.Connection, spec: Scenario) -> None:
    meta = {
        "schema_version": str(schema.SCHEMA_VERSION),
        "scenario": spec.name,
        "seed": str(spec.seed),
        "customers": str(spec.customers),
        "generator_version": GENERATOR_VERSION,
        "clock_now": f"{spec.now.isoformat()}T09:00:00",
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
    conn.execute(
        "INSERT INTO provenance VALUES (1, 'generator', ?, ?, ?, ?)",
        (spec.name, spec.seed, GENERATOR_VERSION, "synthetic: generated by sandbox_cms.data.synth"),
    )
    conn.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, 1)",
        [
            (i + 1, p.sku, p.name, p.category, p.price_cents, p.warranty_months)
            for i, p in enumerate(spec.products)
        ],
    )
    conn.executemany(
        "INSERT INTO consent_texts VALUES (?, ?, ?, ?)",
        [(t.purpose, t.version, t.text, t.published_at.isoformat()) for t in spec.consent_texts],
    )


SHARED_CACHE_ENV = "PRIVACY_COURSE_SHARED_CACHE"
"""A folder of templates built elsewhere, read but never written (a grading kernel sees the
instructor's cache there, read-only); a template missing from it is built in :func:`cache_dir`."""


def cache_dir() -> Path:
    """Where built templates are kept (``PRIVACY_COURSE_CACHE`` or the user cache folder)."""
    configured = os.environ.get("PRIVACY_COURSE_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "privacy-course"


@functools.cache
def _inputs_digest() -> str:
    """A digest of everything a build reads besides the scenario: code, policy, Faker."""
    files = [Path(module.__file__).resolve() for module in (schema, synth, parts, policy, install)]
    files.append(Path(__file__).resolve())
    files += sorted((DATASETS / "policy").glob("*.toml"))
    digest = hashlib.sha256(GENERATOR_VERSION.encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def template_path(
    scenario: str = DEFAULT_SCENARIO, customers: int | None = None, seed: int | None = None
) -> Path:
    """The cached template for these parameters, built on first use.

    The file name carries a digest of the scenario file, the builder's code, the policy
    data and the Faker version, so a change to any of them builds a new template. One built
    already in the shared cache (:data:`SHARED_CACHE_ENV`) is used from there.
    """
    spec = load_scenario(scenario).with_overrides(customers=customers, seed=seed)
    digest = hashlib.sha256(_inputs_digest().encode())
    digest.update(Path(spec.source).read_bytes())
    name = f"{spec.name}-{spec.customers}-{spec.seed}-{digest.hexdigest()[:16]}.db"
    path = cache_dir() / name
    shared = os.environ.get(SHARED_CACHE_ENV)
    if not path.exists() and shared and os.access(Path(shared) / name, os.R_OK):
        return Path(shared) / name
    if not path.exists():
        with contextlib.suppress(SandboxExists):  # another process built it first
            build_sandbox(path, spec)
    return path


def fresh_copy(
    dest: str | Path | None = None,
    scenario: str = DEFAULT_SCENARIO,
    customers: int | None = None,
    seed: int | None = None,
) -> Path:
    """Copy the cached template to ``dest`` (or a new temporary file) and return its path."""
    source = template_path(scenario, customers, seed)
    if dest is None:
        fd, name = tempfile.mkstemp(prefix=f"sandbox-{scenario}-", suffix=".db")
        os.close(fd)
        dest = name
    shutil.copyfile(source, dest)
    return Path(dest)
