"""The processing register and policy data (placeholder until the register lands)."""

import sqlite3


def install_policy(conn: sqlite3.Connection) -> None:
    """Load purposes, retention rules and storage locations from datasets/ into a sandbox."""
