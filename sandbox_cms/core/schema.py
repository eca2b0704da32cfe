"""The sandbox database schema: one SQLite file per sandbox.

Every table that holds rows about people carries ``provenance_id``: where the row came
from (generator + scenario + seed, or an import). Tables are created in this order.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

PROTECTED_TABLES = frozenset(
    {"audit_log", "meta", "purposes", "retention_rules", "storage_locations", "provenance"}
)
"""The CMS's own bookkeeping: the access gate refuses every statement of learner code on
them (``sandbox_cms.privacy.access``), and ``delete`` never removes their rows."""
DERIVED_TRIGGER_PREFIX = "cms_derived_"
"""Triggers the CMS creates to keep derived data current (``sandbox_cms.privacy.retention``): what
their bodies read and write is the CMS's bookkeeping, not the statement's processing, so the
gate neither checks nor logs it. Creating a trigger is a schema change, refused to learners."""

TABLES: dict[str, str] = {
    "meta": """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    "provenance": """
        CREATE TABLE provenance (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,            -- 'generator' or 'import'
            scenario TEXT,
            seed INTEGER,
            generator_version TEXT NOT NULL,
            detail TEXT
        )""",
    "customers": """
        CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            email TEXT NOT NULL,             -- unique: see INDEXES
            phone TEXT,
            street TEXT,
            house_number TEXT,
            postcode TEXT,
            city TEXT,
            country TEXT NOT NULL DEFAULT 'NL',
            birth_date TEXT,
            iban TEXT,
            company TEXT,
            created_at TEXT NOT NULL,
            closed_at TEXT,
            provenance_id INTEGER NOT NULL REFERENCES provenance(id)
        )""",
    "products": """
        CREATE TABLE products (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            category TEXT NOT NULL,
            price_cents INTEGER NOT NULL,
            warranty_months INTEGER NOT NULL DEFAULT 0,
            provenance_id INTEGER NOT NULL REFERENCES provenance(id)
        )""",
    "orders": """
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER REFERENCES customers(id),
            ordered_at TEXT NOT NULL,
            status TEXT NOT NULL,
            total_cents INTEGER NOT NULL,
            provenance_id INTEGER NOT NULL REFERENCES provenance(id)
        )""",
    "order_items": """
        CREATE TABLE order_items (
            id INTEGER PRIMARY KEY,
            order_id INTEGER NOT NULL REFERENCES orders(id),
            product_id INTEGER NOT NULL REFERENCES products(id),
            quantity INTEGER NOT NULL,
            unit_price_cents INTEGER NOT NULL
        )""",
    "invoices": """
        CREATE TABLE invoices (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL,            -- unique: see INDEXES
            order_id INTEGER REFERENCES orders(id),
            customer_id INTEGER REFERENCES customers(id),
            issued_at TEXT NOT NULL,
            billing_name TEXT,
            billing_street TEXT,
            billing_postcode TEXT,
            billing_city TEXT,
            amount_cents INTEGER NOT NULL,
            vat_cents INTEGER NOT NULL,
            provenance_id INTEGER NOT NULL REFERENCES provenance(id)
        )""",
    "consent_texts": """
        CREATE TABLE consent_texts (
            purpose TEXT NOT NULL,
            version TEXT NOT NULL,
            text TEXT NOT NULL,
            published_at TEXT NOT NULL,
            PRIMARY KEY (purpose, version)
        )""",
    # A ledger: rows are only ever appended. Current consent is derived from it.
    "consent_events": """
        CREATE TABLE consent_events (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER REFERENCES customers(id),
            purpose TEXT NOT NULL,
            event TEXT NOT NULL CHECK (event IN ('granted', 'withdrawn')),
            at TEXT NOT NULL,
            text_version TEXT NOT NULL,
            method TEXT NOT NULL,            -- separate_checkbox, pre_ticked, bundled_terms, ...
            channel TEXT NOT NULL,           -- checkout, account, newsletter_form, email, ...
            provenance_id INTEGER NOT NULL REFERENCES provenance(id)
        )""",
    "mailings": """
        CREATE TABLE mailings (
            id INTEGER PRIMARY KEY,
            purpose TEXT NOT NULL,
            subject TEXT NOT NULL,
            sent_at TEXT NOT NULL
        )""",
    "mailing_recipients": """
        CREATE TABLE mailing_recipients (
            mailing_id INTEGER NOT NULL REFERENCES mailings(id),
            customer_id INTEGER NOT NULL,
            PRIMARY KEY (mailing_id, customer_id)
        )""",
    # What was sent or shared to whom, under which purpose (ids and column names only).
    "disclosures": """
        CREATE TABLE disclosures (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER,
            recipient TEXT NOT NULL,
            purpose TEXT NOT NULL,
            columns TEXT NOT NULL,           -- JSON list of 'table.column'
            at TEXT NOT NULL
        )""",
    # The processing register (art. 30), loaded from datasets/.
    "purposes": """
        CREATE TABLE purposes (
            name TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            legal_ground TEXT NOT NULL,
            article TEXT NOT NULL,
            columns TEXT NOT NULL,           -- JSON list of 'table.column'
            retention TEXT,                  -- name of a retention rule
            description TEXT NOT NULL
        )""",
    "retention_rules": """
        CREATE TABLE retention_rules (
            name TEXT PRIMARY KEY,
            category TEXT NOT NULL,
            period_days INTEGER,             -- days after the event, or NULL:
            runs_from TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('delete', 'erase')),
            legal_reason TEXT NOT NULL,
            period_years INTEGER,            -- years (with counted_from), or NULL
            counted_from TEXT NOT NULL DEFAULT 'event',  -- or 'end_of_financial_year'
            financial_year_end TEXT NOT NULL DEFAULT '12-31'  -- MM-DD
        )""",
    "storage_locations": """
        CREATE TABLE storage_locations (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,              -- primary, backup, processor
            country TEXT NOT NULL,
            region TEXT,
            categories TEXT NOT NULL,        -- JSON list
            transfer_mechanism TEXT NOT NULL
        )""",
    "dsr_requests": """
        CREATE TABLE dsr_requests (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('export', 'erase')),
            customer_id INTEGER,
            token TEXT NOT NULL,
            status TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            confirmed_at TEXT,
            completed_at TEXT,
            report TEXT
        )""",
    # Simulated outgoing mail of the request flow (confirmation links, "done" notices).
    # to_address is cleared when an erasure request is completed.
    "dsr_outbox": """
        CREATE TABLE dsr_outbox (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES dsr_requests(id),
            to_address TEXT,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            sent_at TEXT NOT NULL
        )""",
    # Append-only and hash-chained; holds ids and column names, never personal values.
    "audit_log": """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            purpose TEXT,
            action TEXT NOT NULL,
            table_name TEXT,
            columns TEXT NOT NULL,           -- JSON list
            row_ids TEXT NOT NULL,           -- JSON list
            detail TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
}

# Created after a bulk load (faster than keeping them up to date row by row). The two
# UNIQUE indexes are constraints: a sandbox without them is incomplete.
INDEXES: tuple[str, ...] = (
    "CREATE UNIQUE INDEX idx_customers_email ON customers(email)",
    "CREATE UNIQUE INDEX idx_invoices_number ON invoices(number)",
    "CREATE INDEX idx_customers_last_name ON customers(last_name)",
    # The customer search of the web app: a case-insensitive last-name prefix.
    "CREATE INDEX idx_customers_last_name_nocase ON customers(last_name COLLATE NOCASE)",
    "CREATE INDEX idx_orders_customer ON orders(customer_id)",
    "CREATE INDEX idx_order_items_order ON order_items(order_id)",
    "CREATE INDEX idx_invoices_customer ON invoices(customer_id)",
    "CREATE INDEX idx_consent_events_customer ON consent_events(customer_id, purpose)",
    "CREATE INDEX idx_mailing_recipients_customer ON mailing_recipients(customer_id)",
    "CREATE INDEX idx_disclosures_customer ON disclosures(customer_id)",
)


# The clock only moves forward, enforced in the database itself, so also for a second
# connection that bypasses the CMS: a raw `UPDATE meta` (or INSERT OR REPLACE) that moves
# `clock_now` back, renames it or deletes it raises. The audit log and every deadline that
# already passed depend on it (accountability, art. 5(2); storage limitation, 5(1)(e)).
CLOCK_REFUSAL = "the sandbox clock only moves forward (meta.clock_now)"
TRIGGERS: dict[str, str] = {
    "clock_only_forward": f"""
        CREATE TRIGGER IF NOT EXISTS clock_only_forward BEFORE UPDATE ON meta
        WHEN OLD.key = 'clock_now' AND (NEW.key IS NOT 'clock_now'
             OR julianday(NEW.value) IS NULL OR julianday(NEW.value) < julianday(OLD.value))
        BEGIN SELECT RAISE(ABORT, '{CLOCK_REFUSAL}'); END""",
    "clock_only_forward_insert": f"""
        CREATE TRIGGER IF NOT EXISTS clock_only_forward_insert BEFORE INSERT ON meta
        WHEN NEW.key = 'clock_now' AND (julianday(NEW.value) IS NULL
             OR julianday(NEW.value) < (SELECT julianday(value) FROM meta
                                        WHERE key = 'clock_now'))
        BEGIN SELECT RAISE(ABORT, '{CLOCK_REFUSAL}'); END""",
    "clock_never_removed": f"""
        CREATE TRIGGER IF NOT EXISTS clock_never_removed BEFORE DELETE ON meta
        WHEN OLD.key = 'clock_now'
        BEGIN SELECT RAISE(ABORT, '{CLOCK_REFUSAL}'); END""",
}


def create_tables(conn: sqlite3.Connection) -> None:
    """Create every table and trigger; call :func:`create_indexes` after loading rows."""
    for ddl in TABLES.values():
        conn.execute(ddl)
    create_triggers(conn)


def create_triggers(conn: sqlite3.Connection) -> None:
    """Create the triggers that keep the clock moving forward (if missing)."""
    for ddl in TRIGGERS.values():
        conn.execute(ddl)


def missing_triggers(conn: sqlite3.Connection) -> list[str]:
    """Names of :data:`TRIGGERS` the database lacks (a sandbox built before them, or one
    whose trigger was dropped behind the CMS's back)."""
    present = {name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    return [name for name in TRIGGERS if name not in present]


def create_indexes(conn: sqlite3.Connection) -> None:
    """Create the indexes, including the UNIQUE ones on e-mail and invoice number."""
    for ddl in INDEXES:
        conn.execute(ddl)
