"""One judge for pseudonyms, shared by every exercise that asks for them.

A pseudonym (art. 4(5) GDPR) may be linked back to the person only with "additional
information" that is "kept separately". So a value is *not* an acceptable pseudonym when:

- it is the identifier itself (``12``, ``"customer-12"``);
- it is an unkeyed hash (MD5, SHA-1, SHA-2, SHA-3, BLAKE2; also truncated) of an identifying
  value such as the id or the e-mail address: anyone can hash every id and find it back;
- it is a keyed hash (HMAC, or a hash of key + value) whose key can be found: written as a
  literal in the learner's code, or handed over beside the data. A secret in the source is
  not a secret.

It must also be consistent (one pseudonym per person) and distinct (different people,
different pseudonyms). The thresholds are in one place, here. The caller hands over the
learner's function (its source is read with :func:`inspect.getsource` where available) and
anything delivered beside the data.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import inspect
import re
import sys
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MIN_HASH_PREFIX = 6
"""A value of at least this many characters that starts an unkeyed hash is that hash,
truncated (a truncated hash is as easy to find back)."""
MIN_KEY_LENGTH = 4
"""Literals shorter than this are not tried as keys (they are field names, separators...)."""
MAX_KEYS = 200
"""At most this many candidate keys are tried (the longest first)."""
HASHES: tuple[Callable[..., Any], ...] = (
    hashlib.md5, hashlib.sha1, hashlib.sha224, hashlib.sha256, hashlib.sha384, hashlib.sha512,
    hashlib.sha3_256, hashlib.sha3_512, hashlib.blake2b, hashlib.blake2s,
)
HMAC_DIGESTS = ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b")


@dataclass(frozen=True)
class Problem:
    """Why one value is not an acceptable pseudonym for the person behind a record."""

    record: str
    value: Any
    reason: str

    def line(self) -> str:
        return f"{self.record}: {self.value!r} {self.reason}"


def learner_source(fn: Any) -> str | None:
    """The source of the learner's function, or None where Python cannot give it."""
    target = inspect.unwrap(fn) if callable(fn) else fn
    try:
        return textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError):
        return None


def function_in_call(attempt: Any) -> Any:
    """The learner's function the harness is about to call with ``attempt`` (read from the
    caller's frames, for an exercise's ``arguments`` hook), or None."""
    frame = sys._getframe(1)
    while frame is not None:
        local = frame.f_locals
        if local.get("attempt") is attempt and callable(local.get("fn")):
            return local["fn"]
        frame = frame.f_back
    return None


def literal_keys(source: str | None, beside: Iterable[Any] = ()) -> list[bytes]:
    """Candidate keys: string and bytes literals in ``source`` and the values ``beside``."""
    found: set[bytes] = set()
    if source:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            tree = None
        if tree is not None:
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                    found.add(_bytes(node.value))
        else:  # not parseable on its own: fall back to quoted strings
            found.update(m.encode() for m in re.findall(r"""(['"])(.*?)\1""", source)[1::2])
    for value in beside:
        if isinstance(value, (str, bytes)):
            found.add(_bytes(value))
    keys = sorted((k for k in found if len(k) >= MIN_KEY_LENGTH), key=lambda k: (-len(k), k))
    extra = []
    for key in keys:  # a hex or base64 literal is often decoded before use
        for decode in (bytes.fromhex, base64.b64decode, base64.urlsafe_b64decode):
            try:
                extra.append(decode(key.decode("ascii")))
            except (ValueError, UnicodeDecodeError):
                continue
    return (keys + [k for k in extra if len(k) >= MIN_KEY_LENGTH])[:MAX_KEYS]


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _spellings(identifier: Any) -> set[bytes]:
    text = str(identifier).strip()
    return {text.encode(), text.lower().encode()}


def _digests(data: bytes) -> Iterable[str]:
    for make in HASHES:
        digest = make(data)
        yield digest.hexdigest()
        yield base64.b64encode(digest.digest()).decode().rstrip("=").lower()
        yield base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=").lower()


def unkeyed_hashes(identifier: Any) -> set[str]:
    """Every unkeyed hash (hex and base64, lower case) of one identifying value."""
    return {d for spelling in _spellings(identifier) for d in _digests(spelling)}


def keyed_hashes(identifier: Any, key: bytes) -> set[str]:
    """HMACs and salted hashes (key + value, value + key) of one value under ``key``."""
    found: set[str] = set()
    for spelling in _spellings(identifier):
        for name in HMAC_DIGESTS:
            digest = hmac.new(key, spelling, name)
            found.add(digest.hexdigest())
            found.add(base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=").lower())
        for data in (key + spelling, spelling + key, key + b":" + spelling):
            found.update(_digests(data))
    return found


def _is_prefix(text: str, hashes: set[str]) -> bool:
    return len(text) >= MIN_HASH_PREFIX and any(h.startswith(text) for h in hashes)


def _is_identifier(text: str, identifiers: Mapping[str, Any]) -> str | None:
    for name, value in identifiers.items():
        plain = str(value).strip().lower()
        if not plain:
            continue
        if text == plain or re.fullmatch(rf"[a-z_\- #:]*0*{re.escape(plain)}", text):
            return name
    return None


def judge(
    rows: Iterable[tuple[str, Any, Any, Mapping[str, Any]]],
    *,
    source: str | None = None,
    beside: Iterable[Any] = (),
) -> tuple[list[Problem], list[str]]:
    """Judge pseudonyms.

    ``rows`` gives, per record: a label (``"order 311"``), the pseudonym value, the person it
    stands for (any hashable key, e.g. the customer id) and that person's identifying values
    (``{"id": 12, "email": "..."}``). ``source`` is the learner's code (see
    :func:`learner_source`), ``beside`` anything handed over with the data.

    Returns (problems, task_errors): problems are pseudonyms that can be linked back without
    a secret (art. 4(5)); task errors are inconsistencies (one person with two pseudonyms,
    two people with one).
    """
    rows = list(rows)
    keys = literal_keys(source, beside)
    problems: list[Problem] = []
    by_person: dict[Any, set[str]] = defaultdict(set)
    hash_cache: dict[tuple[str, Any], set[str]] = {}

    def hashes(kind: str, value: Any, key: bytes = b"") -> set[str]:
        cache_key = (kind + key.hex(), value)
        if cache_key not in hash_cache:
            hash_cache[cache_key] = (unkeyed_hashes(value) if kind == "plain"
                                     else keyed_hashes(value, key))
        return hash_cache[cache_key]

    for label, value, person, identifiers in rows:
        text = "" if value is None else str(value).strip().lower()
        by_person[person].add(text)
        if not text:
            problems.append(Problem(label, value, "is no pseudonym at all"))
            continue
        named = _is_identifier(text, identifiers)
        if named:
            problems.append(Problem(label, value, f"is the customer {named} itself"))
            continue
        plain = next((n for n, v in identifiers.items() if _is_prefix(text, hashes("plain", v))),
                     None)
        if plain:
            problems.append(Problem(
                label, value, f"is an unkeyed hash of the customer's {plain}; anyone can hash "
                f"every {plain} and find it back"))
            continue
        if len(text) < MIN_HASH_PREFIX:
            continue
        for key in keys:
            leaked = next((n for n, v in identifiers.items()
                           if _is_prefix(text, hashes("keyed", v, key))), None)
            if leaked:
                problems.append(Problem(
                    label, value, f"is a keyed hash of the customer's {leaked}, but its key "
                    f"({key[:4]!r}...) is written in your code or handed over with the data: "
                    "a key anyone can read is no secret; generate it (secrets.token_bytes) "
                    "and keep it apart"))
                break
    task: list[str] = []
    if any(len(names) > 1 for names in by_person.values()):
        task.append("one customer must get the same pseudonym on every row")
    owners: dict[str, set[Any]] = defaultdict(set)
    for person, names in by_person.items():
        for name in names:
            owners[name].add(person)
    if any(len(people) > 1 for name, people in owners.items() if name):
        task.append("different customers must get different pseudonyms")
    return problems, task
