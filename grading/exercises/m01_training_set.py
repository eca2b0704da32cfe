"""Exercise 01-training-set: a training database with production's shape and none of its values.

The learner gets the "production" sandbox (with canary customers planted in it), a file
name and a number of customers, and writes a training database there with the production
schema, made of fictitious people (source post 1; art. 5(1)(b), 6(4), 5(1)(c); CJEU C-77/21
Digi), that *behaves* like production: ``prepare`` gives production a shape of its own,
drawn from the variant's seed (many customers without a phone number, a share of Belgian and
German customers, many returned orders), so the generator's defaults do not fit and the
learner must measure production (aggregates, under the ``training`` purpose) and generate
to that profile. Checked, in this order: the schema; no identifying production value
(canaries first); the asked number of customers and the shop's own catalogue; recognisably
fictitious values; every foreign key resolves; the shape statistics of ``SHAPE`` within
generous tolerances (tests/test_training_set.py proves three different correct solutions
pass for several seeds). Shape and keys are an engineering requirement, not a legal rule:
they fail as ``fit_for_purpose``.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grading.checks import PrincipleViolation
from grading.exercises.canary import output_values, plant_canaries, production_values
from grading.harness import Attempt, Exercise, Variant, register
from sandbox_cms.data.guard import email_domain, iban_problem, is_reserved_domain

EXERCISE_ID = "01-training-set"
# Tables a training copy of the CMS must have; purposes and policy may be loaded or not.
DATA_TABLES = ("customers", "products", "orders", "order_items", "invoices", "consent_events")
VISIBLE_SIZE = 120
HIDDEN_SIZE = 150
# Production's own shape, drawn per seed: (low, high) shares. The generator's defaults are far
# outside each range plus its tolerance (no customer without a phone, all in NL, 5% returned).
NO_PHONE = (0.30, 0.45)  # the shop stopped asking for a phone number
ABROAD = (0.30, 0.45)  # customers in Belgium and Germany
RETURNED = (0.25, 0.35)  # orders sent back


def reshape_production(db_path: str | Path, seed: int) -> None:
    """Give production a shape of its own (before the canaries are planted)."""
    rng = random.Random(f"training-shape-{seed}")
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM customers ORDER BY id")]
            for cid in rng.sample(ids, round(rng.uniform(*NO_PHONE) * len(ids))):
                conn.execute("UPDATE customers SET phone = NULL WHERE id = ?", (cid,))
            for cid in rng.sample(ids, round(rng.uniform(*ABROAD) * len(ids))):
                conn.execute("UPDATE customers SET country = ? WHERE id = ?",
                             (rng.choice(("BE", "BE", "DE")), cid))
            delivered = [r[0] for r in conn.execute(
                "SELECT id FROM orders WHERE status = 'delivered' ORDER BY id")]
            total = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            share = rng.uniform(*RETURNED)
            for oid in rng.sample(delivered, min(len(delivered), round(share * total))):
                conn.execute("UPDATE orders SET status = 'returned' WHERE id = ?", (oid,))
    finally:
        conn.close()


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    """Give production its shape and plant canaries; choose where the learner writes."""
    seed = variant.seed or 0
    reshape_production(cms.path, seed)
    canaries = plant_canaries(cms.path, seed=seed)
    folder = Path(tempfile.mkdtemp(prefix="training-set-", dir=Path(cms.path).parent))
    customers = HIDDEN_SIZE if variant.scenario != "webshop" else VISIBLE_SIZE
    return {
        "canaries": canaries,
        "dest": folder / "training.db",
        "customers": customers,
        "scenario": variant.scenario,
        "shape": shape_of(cms.path),
    }


# --- the shape ---------------------------------------------------------------------------

# (name, how it is told, kind, tolerance): "share" and "distribution" in absolute points
# (a distribution by its total variation distance), "ratio" relative to production's value.
# Generous on purpose: a correct set of 120 customers drawn at random lies within about half
# of each (tests/test_training_set.py); production's own shape is at least 0.25 away from the
# generator's defaults on phone, country and status.
SHAPE: tuple[tuple[str, str, str, float], ...] = (
    ("no_phone", "customers without a phone number", "share", 0.18),
    ("company", "customers with a company", "share", 0.18),
    ("closed", "customers with a closed account", "share", 0.18),
    ("country", "customers per country", "distribution", 0.18),
    ("status", "orders per status", "distribution", 0.18),
    ("with_orders", "customers with at least one order", "share", 0.18),
    ("orders_per_customer", "orders per customer", "ratio", 0.40),
    ("items_per_order", "items per order", "ratio", 0.40),
    ("invoices_per_order", "invoices per order", "share", 0.18),
    ("median_total", "the median order total (cents)", "ratio", 0.50),
)


def shape_of(path: str | Path) -> dict[str, Any]:
    """The shape statistics of a sandbox-like database (aggregates only, no values)."""
    with _connect(path) as conn:
        def one(sql: str) -> float:
            return conn.execute(sql).fetchone()[0] or 0

        def distribution(sql: str) -> dict[str, float]:
            rows = conn.execute(sql).fetchall()
            total = sum(n for _, n in rows) or 1
            return {str(k): n / total for k, n in rows}

        customers = one("SELECT COUNT(*) FROM customers") or 1
        orders = one("SELECT COUNT(*) FROM orders") or 1
        totals = [r[0] for r in conn.execute("SELECT total_cents FROM orders")
                  if isinstance(r[0], int | float)]
        return {
            "no_phone": one("SELECT COUNT(*) FROM customers WHERE phone IS NULL OR phone = ''")
            / customers,
            "company": one("SELECT COUNT(*) FROM customers WHERE company IS NOT NULL"
                           " AND company != ''") / customers,
            "closed": one("SELECT COUNT(*) FROM customers WHERE closed_at IS NOT NULL"
                          " AND closed_at != ''") / customers,
            "country": distribution("SELECT country, COUNT(*) FROM customers GROUP BY country"),
            "status": distribution("SELECT status, COUNT(*) FROM orders GROUP BY status"),
            "with_orders": one("SELECT COUNT(*) FROM customers WHERE id IN"
                               " (SELECT customer_id FROM orders)") / customers,
            "orders_per_customer": one("SELECT COUNT(*) FROM orders") / customers,
            "items_per_order": one("SELECT COUNT(*) FROM order_items") / orders,
            "invoices_per_order": one("SELECT COUNT(*) FROM invoices") / orders,
            "median_total": statistics.median(totals) if totals else 0,
        }


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _distribution_text(dist: dict[str, float]) -> str:
    return ", ".join(f"{k} {_percent(v)}" for k, v in sorted(dist.items(), key=lambda kv: -kv[1]))


def shape_differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """One plain sentence per statistic outside its tolerance."""
    problems = []
    for name, told, kind, tolerance in SHAPE:
        a, b = want[name], got[name]
        if kind == "distribution":
            keys = set(a) | set(b)
            distance = sum(abs(a.get(k, 0) - b.get(k, 0)) for k in keys) / 2
            if distance > tolerance:
                problems.append(f"{told}: production {_distribution_text(a)}; yours "
                                f"{_distribution_text(b) or 'none'} (they differ by "
                                f"{_percent(distance)}, at most {_percent(tolerance)} allowed)")
        elif kind == "share":
            if abs(a - b) > tolerance:
                problems.append(f"{told}: production {_percent(a)}, yours {_percent(b)} (at "
                                f"most {_percent(tolerance)} points apart)")
        elif abs(b - a) > tolerance * a:
            problems.append(f"{told}: production {a:.3g}, yours {b:.3g} (at most "
                            f"{_percent(tolerance)} apart)")
    return problems


def arguments(attempt: Attempt) -> tuple[Path, str, int]:
    ctx = attempt.context
    return ctx["dest"], ctx["scenario"], ctx["customers"]


@contextlib.contextmanager
def _connect(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection that is closed afterwards."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def training_db(attempt: Attempt) -> Path:
    """The database the learner wrote (the returned path, else the asked-for path)."""
    result = attempt.result
    path = Path(result) if isinstance(result, str | Path) else attempt.context["dest"]
    if not path.is_file():
        raise PrincipleViolation(
            "task", f"there is no training database at {path}: write it to the path you were given"
        )
    try:
        with _connect(path) as conn:
            conn.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError:
        raise PrincipleViolation("task", f"{path} is not a SQLite database") from None
    return path


def same_schema(attempt: Attempt) -> None:
    """Every data table of production exists with the same columns."""
    path = training_db(attempt)
    problems = []
    with _connect(attempt.cms.path) as prod, _connect(path) as conn:
        for table in DATA_TABLES:
            want, got = _columns(prod, table), _columns(conn, table)
            missing = [c for c in want if c not in got]
            if not got:
                problems.append(f"table {table} is missing")
            elif missing:
                problems.append(f"table {table} lacks column(s) {', '.join(missing)}")
    if problems:
        raise PrincipleViolation(
            "task", "the training set must have the production schema, so the trainees "
            "practise on the real CMS", problems)


def asked_size_and_catalogue(attempt: Attempt) -> None:
    """The asked number of customers, and the shop's own catalogue."""
    path = training_db(attempt)
    wanted = attempt.context["customers"]
    with _connect(attempt.cms.path) as prod:
        prod_skus = {r[0] for r in prod.execute("SELECT sku FROM products")}
    with _connect(path) as conn:
        n = conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
        skus = {r[0] for r in conn.execute("SELECT sku FROM products")}
    if n != wanted:
        raise PrincipleViolation(
            "task", f"the trainer asked for {wanted} customers, the training set has {n}")
    if skus != prod_skus:
        raise PrincipleViolation(
            "task", "the training set should sell the shop's own products (the catalogue is "
            "not personal data)", [f"products {sorted(skus - prod_skus)[:5]} are not in "
                                   f"production; {sorted(prod_skus - skus)[:5]} are missing"])


def nothing_from_production(attempt: Attempt) -> None:
    """No canary value and no identifying production value anywhere in the training set.

    Canary leaks are named first: they prove the values came from this production.
    """
    path = training_db(attempt)
    known = production_values(attempt.cms.path, attempt.context["canaries"])
    leaks = []
    for where, value in output_values(path):
        what = known.get(value.strip().lower())
        if what is not None:
            leaks.append(("canary" not in what, where, what, value))
    if leaks:
        leaks.sort(key=lambda leak: leak[0])
        copied = not leaks[0][0]  # a canary leaked: the rows were copied
        how = (
            "copying customers into a training database is further processing that fails the "
            "compatibility test, and a training never needs real people"
            if copied else
            "no canary among them, so you probably generated with production's own seed (in "
            "this course production was generated too): the same seed recreates the same "
            "people; use a seed of your own"
        )
        raise PrincipleViolation(
            "synthetic_only",
            f"{len(leaks)} values in your training set come from production: {how}",
            [f"{where} holds {what} ({value!r})" for _, where, what, value in leaks],
        )


def recognisably_fictitious(attempt: Attempt) -> None:
    """Every e-mail is on a reserved domain and every IBAN has a fictional bank code."""
    path = training_db(attempt)
    records = []
    with _connect(path) as conn:
        for cid, email, iban in conn.execute("SELECT id, email, iban FROM customers"):
            domain = email_domain(email or "")
            if domain is None or not is_reserved_domain(domain):
                records.append(f"customer {cid}: e-mail {email!r} is not on a reserved domain")
            if iban and (problem := iban_problem(iban)):
                records.append(f"customer {cid}: {problem}")
    if records:
        raise PrincipleViolation(
            "synthetic_only",
            "fictitious people must be recognisably fictitious: a made-up address on a real "
            "mail domain or a real bank may belong to a real person (use example.com or .test, "
            "and a fictional bank code)",
            records,
        )


# (child table, column, parent table, parent column): every non-empty value must resolve.
FOREIGN_KEYS = (
    ("orders", "customer_id", "customers", "id"),
    ("order_items", "order_id", "orders", "id"),
    ("order_items", "product_id", "products", "id"),
    ("invoices", "order_id", "orders", "id"),
    ("invoices", "customer_id", "customers", "id"),
    ("consent_events", "customer_id", "customers", "id"),
)


def keys_resolve(attempt: Attempt) -> None:
    """Every foreign key points at an existing row, and an invoice belongs to the customer
    of its order."""
    records = []
    with _connect(training_db(attempt)) as conn:
        for child, column, parent, key in FOREIGN_KEYS:
            rows = conn.execute(
                f'SELECT id, "{column}" FROM "{child}" WHERE "{column}" IS NOT NULL'  # noqa: S608
                f' AND "{column}" NOT IN (SELECT "{key}" FROM "{parent}")').fetchall()
            if rows:
                records.append(f"{len(rows)} {child} row(s) point to a {parent} row that does "
                               f"not exist ({child} {rows[0][0]}: {column} = {rows[0][1]})")
        rows = conn.execute(
            "SELECT i.id, i.customer_id, o.customer_id FROM invoices i JOIN orders o"
            " ON o.id = i.order_id WHERE i.customer_id IS NOT o.customer_id").fetchall()
        if rows:
            records.append(f"{len(rows)} invoice(s) name another customer than their order "
                           f"(invoice {rows[0][0]}: customer {rows[0][1]}, its order's "
                           f"customer {rows[0][2]})")
    if records:
        raise PrincipleViolation(
            "fit_for_purpose", "foreign keys that do not resolve: trainees and tests would "
            "work on orders without customers and invoices without orders", records)


def production_shape(attempt: Attempt) -> None:
    """The shape statistics within tolerance of production's (measured before the run)."""
    problems = shape_differences(attempt.context["shape"], shape_of(training_db(attempt)))
    if problems:
        raise PrincipleViolation(
            "fit_for_purpose", "the training set does not have production's shape, so what "
            "the trainees practise (and the tests find) differs from the real shop: measure "
            "production (aggregates, under the training purpose) and generate to that profile",
            problems)


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Build a training database with production's shape and none of its values",
    principles=("synthetic_only", "compatibility", "minimisation", "fit_for_purpose"),
    task=(
        "make_training_set(production, dest, scenario, customers) writes a sandbox database "
        "at dest with the production schema, `customers` fictitious customers of the same "
        "shop with production's shape (empty fields, distributions, volumes, keys that "
        "resolve), and not one value from production; it returns dest."
    ),
    # production values before size and shape: a copy of production is told it is one,
    # whatever its size or shape
    checks=(same_schema, nothing_from_production, asked_size_and_catalogue,
            recognisably_fictitious, keys_resolve, production_shape),
    points=3,
    returns=(str, Path),
    visible=Variant(scenario="webshop", seed=20140301, customers=300),
    hidden=Variant(scenario="ebooks", customers=300),
    prepare=prepare,
    arguments=arguments,
))
