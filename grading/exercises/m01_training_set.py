"""Exercise 01-training-set: a training database that shares no value with production.

The learner gets the "production" sandbox (with canary customers planted in it), a file
name and a number of customers, and writes a training database there with the production
schema and a realistic shape, made of fictitious people (source post 1; art. 5(1)(b), 6(4),
5(1)(c); CJEU C-77/21 Digi). Checked: it is a complete sandbox of the same shop; nothing in
it comes from production; every value is recognisably fictitious.
"""

from __future__ import annotations

import contextlib
import sqlite3
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
MIN_ORDER_COVERAGE = 0.9  # share of training customers that have at least one order


def prepare(cms: Any, variant: Variant) -> dict[str, Any]:
    """Plant canaries in production; choose where the learner writes the training set."""
    seed = variant.seed or 0
    canaries = plant_canaries(cms.path, seed=seed)
    folder = Path(tempfile.mkdtemp(prefix="training-set-", dir=Path(cms.path).parent))
    customers = HIDDEN_SIZE if variant.scenario != "webshop" else VISIBLE_SIZE
    return {
        "canaries": canaries,
        "dest": folder / "training.db",
        "customers": customers,
        "scenario": variant.scenario,
    }


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


def realistic_shape(attempt: Attempt) -> None:
    """The asked number of customers, with orders and invoices, and the shop's own catalogue."""
    path = training_db(attempt)
    wanted = attempt.context["customers"]
    with _connect(attempt.cms.path) as prod:
        prod_skus = {r[0] for r in prod.execute("SELECT sku FROM products")}
    with _connect(path) as conn:
        n = conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
        with_orders = conn.execute(
            "SELECT COUNT(DISTINCT customer_id) FROM orders"
            " WHERE customer_id IN (SELECT id FROM customers)"
        ).fetchone()[0]
        invoices = conn.execute("SELECT COUNT(*) FROM invoices").fetchone()[0]
        skus = {r[0] for r in conn.execute("SELECT sku FROM products")}
    if n != wanted:
        raise PrincipleViolation(
            "task", f"the trainer asked for {wanted} customers, the training set has {n}")
    if with_orders < MIN_ORDER_COVERAGE * n or invoices == 0:
        raise PrincipleViolation(
            "task", f"only {with_orders} of {n} customers have an order and there are "
            f"{invoices} invoices: a training needs a realistic shop, not empty tables")
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


EXERCISE = register(Exercise(
    id=EXERCISE_ID,
    title="Build a training database that shares nothing with production",
    principles=("synthetic_only", "compatibility", "minimisation"),
    task=(
        "make_training_set(production, dest, scenario, customers) writes a sandbox database "
        "at dest with the production schema, `customers` fictitious customers of the same "
        "shop, and not one value from production; it returns dest."
    ),
    # production values before shape: a copy of production is told it is one, whatever
    # its size
    checks=(same_schema, nothing_from_production, realistic_shape, recognisably_fictitious),
    points=3,
    returns=(str, Path),
    visible=Variant(scenario="webshop", seed=20140301, customers=300),
    hidden=Variant(scenario="ebooks", customers=300),
    prepare=prepare,
    arguments=arguments,
))
