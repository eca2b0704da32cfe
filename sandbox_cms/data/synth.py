"""Synthetic webshop data: pools of Faker nl_NL values, combined by a seeded generator.

Faker is slow one record at a time (about 5,000 customers/s) and its nl_NL provider emits
values that look real (free-mail addresses, BSNs, IBANs of real banks, real company names).
So Faker only fills small pools of harmless values once per seed (names, street names,
towns); everything else is built by one ``random.Random(seed)``: e-mail on reserved
domains, IBANs with a fictional bank code, invented company names, dates from the
scenario's calendar. The same scenario and seed give the same rows, in the same order.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
import unicodedata
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from faker import Faker

from sandbox_cms.data.guard import make_iban
from sandbox_cms.data.scenario import Scenario

EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
FICTIONAL_BANK_CODES = ("XMPL", "SYNT")
IBAN_RATE = 0.35  # share of customers who left an account number (refunds, direct debit)
VAT_RATE_PERCENT = 21
ORDER_STATUSES = ("delivered", "returned", "cancelled")
ORDER_STATUS_WEIGHTS = (0.93, 0.05, 0.02)
QUANTITY_WEIGHTS = (0.85, 0.12, 0.03)  # quantity 1, 2, 3
# Invented trade words: company names are "<surname> <word> B.V.", never Faker's company().
COMPANY_WORDS = ("Stuiterwerk", "Veerkracht", "Springpret", "Zweefhuis", "Hupsakee")
COMPANY_FORMS = ("B.V.", "V.O.F.", "Holding B.V.")
POSTCODE_LETTERS = "ABCEGHJKLMNPRTVWXZ"  # no S: the SA/SD/SS combinations are never issued
CHUNK_SIZE = 20_000
POOL_SIZES = {"first_name": 600, "last_name": 800, "street_name": 500, "city": 300}


@dataclass
class Chunk:
    """Rows for a run of consecutive customers, as tuples in table column order."""

    customers: list[tuple] = field(default_factory=list)
    orders: list[tuple] = field(default_factory=list)
    order_items: list[tuple] = field(default_factory=list)
    consent_events: list[tuple] = field(default_factory=list)

    def row_count(self) -> int:
        return sum(len(rows) for rows in self.tables().values())

    def tables(self) -> dict[str, list[tuple]]:
        return {
            "customers": self.customers,
            "orders": self.orders,
            "order_items": self.order_items,
            "consent_events": self.consent_events,
        }


def build_pools(seed: int) -> dict[str, list[str]]:
    """Small lists of Faker nl_NL values, the same for the same seed and Faker version."""
    fake = Faker("nl_NL")
    fake.seed_instance(seed)
    pools = {}
    for name, size in POOL_SIZES.items():
        make = getattr(fake, name)
        pools[name] = sorted({make() for _ in range(size)})
    return pools


def _cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative weights scaled to 1, for ``values[bisect(cum, rng.random())]``."""
    total = sum(weights)
    cum = [w / total for w in itertools.accumulate(weights)]
    cum[-1] = 1.0
    return cum


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower())


class _Calendar:
    """Seconds since the scenario's start rendered as ISO datetimes, by table look-up."""

    def __init__(self, start: dt.date, last: dt.date) -> None:
        days = (last - start).days + 1
        self.days = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
        self.day_prefix = [f"{day}T" for day in self.days]
        self.times = [
            f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        ]
        self.seconds = days * 86400

    def iso(self, second: int) -> str:
        return self.day_prefix[second // 86400] + self.times[second % 86400]

    def date(self, second: int) -> str:
        return self.days[second // 86400]


class ChunkGenerator:
    """Makes chunk ``k`` of a scenario: customers ``k * CHUNK_SIZE + 1`` onwards.

    Each chunk draws from its own ``random.Random`` seeded with the scenario's seed and the
    chunk number, so chunks can be made in any order, in several processes, and still give
    the same rows. Customer ids are global; order, order line and consent event ids are
    local to the chunk (1, 2, ...): the builder adds the running offsets when it copies a
    chunk into the database.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.chunks = -(-scenario.customers // CHUNK_SIZE)
        pools = build_pools(scenario.seed)
        self.firsts, self.lasts = pools["first_name"], pools["last_name"]
        self.streets, self.cities = pools["street_name"], pools["city"]
        self.slugs = {name: _slug(name) for name in self.firsts + self.lasts}
        self.cal = _Calendar(scenario.start, scenario.now)
        self.birth_days = _Calendar(dt.date(1940, 1, 1), dt.date(2005, 12, 31)).days
        self.letters = [a + b for a in POSTCODE_LETTERS for b in POSTCODE_LETTERS]
        self.products = [(i + 1, p.price_cents) for i, p in enumerate(scenario.products)]
        texts = sorted(scenario.consent_texts, key=lambda t: t.published_at)
        self.questions = [
            (
                q,
                list(q.methods),
                _cumulative(list(q.methods.values())),
                [
                    ((t.published_at - scenario.start).days * 86400, t.version)
                    for t in texts
                    if t.purpose == q.purpose
                ],
            )
            for q in scenario.consents
        ]

    def chunk(self, k: int) -> Chunk:
        """The rows of chunk ``k`` (0-based)."""
        scenario, cal = self.scenario, self.cal
        rng = random.Random(f"{scenario.seed}:{k}")
        random_, choices = rng.random, rng.choices
        first_id = k * CHUNK_SIZE + 1
        n = min(CHUNK_SIZE, scenario.customers + 1 - first_id)
        firsts, lasts, slugs = self.firsts, self.lasts, self.slugs
        order_span = (scenario.end - scenario.start).days * 86400 + 86399
        now_second = cal.seconds - 1
        products, n_products = self.products, len(self.products)
        letters, n_letters = self.letters, len(self.letters)
        birth_days, n_birth_days = self.birth_days, len(self.birth_days)
        status_cum = _cumulative(ORDER_STATUS_WEIGHTS)
        quantity_cum = _cumulative(QUANTITY_WEIGHTS)

        def randrange(low: int, high: int | None = None) -> int:
            """Like rng.randrange, but from one rng.random() draw (faster, same determinism)."""
            if high is None:
                low, high = 0, low
            return low + int(random_() * (high - low))

        order_id = item_id = event_id = 0
        chunk = Chunk()
        first_col = choices(firsts, k=n)
        last_col = choices(lasts, k=n)
        street_col = choices(self.streets, k=n)
        city_col = choices(self.cities, k=n)
        domain_col = choices(EMAIL_DOMAINS, k=n)
        for i in range(n):
            cid = first_id + i
            first, last = first_col[i], last_col[i]
            created = randrange(order_span)
            postcode = f"{randrange(1000, 10000)} {letters[randrange(n_letters)]}"
            house = str(randrange(1, 300))
            iban = (
                make_iban(FICTIONAL_BANK_CODES[cid % 2], randrange(10**9, 10**10))
                if random_() < IBAN_RATE
                else None
            )
            company = (
                f"{last.split()[-1]} {COMPANY_WORDS[randrange(len(COMPANY_WORDS))]}"
                f" {COMPANY_FORMS[randrange(len(COMPANY_FORMS))]}"
                if random_() < scenario.company_rate
                else None
            )
            # Orders: one for almost everyone, a few for repeat buyers.
            n_orders = (
                randrange(2, scenario.max_orders + 1)
                if random_() < scenario.repeat_buyer_rate
                else 1
            )
            moments = sorted(
                [created] + [randrange(created, order_span) for _ in range(n_orders - 1)]
            )
            for moment in moments:
                order_id += 1
                status = ORDER_STATUSES[bisect(status_cum, random_())]
                total = 0
                for _ in range(randrange(1, scenario.max_items + 1)):
                    item_id += 1
                    product_id, price = products[int(random_() * n_products)]
                    quantity = 1 + bisect(quantity_cum, random_())
                    total += quantity * price
                    chunk.order_items.append((item_id, order_id, product_id, quantity, price))
                ordered_at = cal.iso(moment)
                chunk.orders.append((order_id, cid, ordered_at, status, total, 1))
            closed_at = None
            if random_() < scenario.closed_account_rate:
                closed_at = cal.iso(min(moments[-1] + randrange(86400, 400 * 86400), now_second))
            chunk.customers.append(
                (
                    cid,
                    first,
                    last,
                    f"{slugs[first]}.{slugs[last]}.{cid}@{domain_col[i]}",
                    f"+31 6 {randrange(10_000_000, 100_000_000)}",
                    street_col[i],
                    house,
                    postcode,
                    city_col[i],
                    "NL",
                    birth_days[randrange(n_birth_days)],
                    iban,
                    company,
                    cal.iso(created),
                    closed_at,
                    1,
                )
            )
            # Consent: asked at the first checkout; some withdrew later.
            for q, methods, weights, versions in self.questions:
                if random_() >= q.grant_rate:
                    continue
                version = _version_at(versions, created, q.text_version)
                method = methods[bisect(weights, random_())]
                event_id += 1
                chunk.consent_events.append(
                    (
                        event_id,
                        cid,
                        q.purpose,
                        "granted",
                        cal.iso(created),
                        version,
                        method,
                        q.channel,
                        1,
                    )
                )
                if random_() < q.withdraw_rate:
                    event_id += 1
                    chunk.consent_events.append(
                        (
                            event_id,
                            cid,
                            q.purpose,
                            "withdrawn",
                            cal.iso(randrange(created, now_second)),
                            version,
                            method,
                            "account",
                            1,
                        )
                    )
        return chunk


def generate(scenario: Scenario) -> Iterator[Chunk]:
    """Yield every chunk of the scenario in order (in this process).

    Invoices follow from orders: :mod:`sandbox_cms.data.parts` derives them inside SQLite.
    """
    generator = ChunkGenerator(scenario)
    for k in range(generator.chunks):
        yield generator.chunk(k)


def _version_at(versions: list[tuple[int, str]], second: int, default: str) -> str:
    """The consent text version shown at a moment: the latest one published by then."""
    shown = default
    for published, version in versions:
        if published <= second:
            shown = version
    return shown
