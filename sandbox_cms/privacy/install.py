"""Writing the whole policy into a sandbox database: the register (``policy``), the
retention rules (``retention``) and the storage locations (``storage``).

It sits above the three modules it reads with, so none of them imports another upward.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sandbox_cms.core import schema
from sandbox_cms.core.errors import PolicyError
from sandbox_cms.privacy import policy
from sandbox_cms.privacy.policy import (
    FINGERPRINT_KEY,
    LOCATION_KEYS,
    RETENTION_KEYS,
    STORED_KEY,
    Register,
    default_register,
    fingerprint,
    stored_fingerprint,
)
from sandbox_cms.privacy.retention import load_rules
from sandbox_cms.privacy.storage import load_locations


def _current_retention_table(conn: sqlite3.Connection) -> None:
    """A sandbox built before the schedule counted in years (or called the account action
    'anonymise') gets the current ``retention_rules`` table; it holds only policy data, which
    is written again right after."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(retention_rules)")}
    if not set(RETENTION_KEYS) <= columns:
        conn.execute("DROP TABLE IF EXISTS retention_rules")
        conn.execute(schema.TABLES["retention_rules"])


def install_policy(
    conn: sqlite3.Connection,
    register: Register | None = None,
    *,
    retention_file: Path | None = None,
    locations_file: Path | None = None,
) -> None:
    """Write the register, retention rules and storage locations into a sandbox database.

    The rules and locations are validated first by their own modules
    (:func:`sandbox_cms.privacy.retention.load_rules`,
    :func:`sandbox_cms.privacy.storage.load_locations`),
    and each location's categories must be categories of the register, so a bad policy file
    fails here, at build time, with an error naming the file and the key, and nothing is
    written. Replaces what is there and records the policy's :func:`fingerprint` in ``meta``.
    Runs inside the caller's transaction (commits nothing).
    """
    register = register or default_register()  # policy.POLICY_DIR read now: tests move it
    retention_file = retention_file or policy.POLICY_DIR / "retention.toml"
    locations_file = locations_file or policy.POLICY_DIR / "locations.toml"
    rules = load_rules(retention_file)
    locations = load_locations(locations_file)
    for location in locations:
        for category in location.categories:
            if category not in register.categories:
                raise PolicyError(
                    f"{locations_file}: locations '{location.name}': key 'categories' names "
                    f"{category!r}, which categories.toml does not define"
                )
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                 (FINGERPRINT_KEY, fingerprint()))
    conn.execute("DELETE FROM purposes")
    conn.executemany(
        "INSERT INTO purposes (name, title, legal_ground, article, columns, retention, description)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (p.name, p.title, p.legal_ground, p.article, json.dumps(sorted(p.columns)),
             p.retention, p.description)
            for p in register.purposes.values()
        ],
    )
    _current_retention_table(conn)
    conn.execute("DELETE FROM retention_rules")
    conn.executemany(
        f"INSERT INTO retention_rules ({', '.join(RETENTION_KEYS)})"
        f" VALUES ({', '.join('?' * len(RETENTION_KEYS))})",
        [tuple(getattr(r, k) for k in RETENTION_KEYS) for r in rules],
    )
    conn.execute("DELETE FROM storage_locations")
    conn.executemany(
        f"INSERT INTO storage_locations ({', '.join(LOCATION_KEYS)}) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (loc.name, loc.kind, loc.country, loc.region, json.dumps(list(loc.categories)),
             loc.transfer_mechanism)
            for loc in locations
        ],
    )
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                 (STORED_KEY, stored_fingerprint(conn)))
