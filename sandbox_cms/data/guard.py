"""The guard: the one gate every imported customer record passes.

Pure functions. The sandbox accepts only data that is *demonstrably* synthetic: e-mail on a
reserved example domain (RFC 2606), IBANs with a fictional bank code, no national ID number
at all (a webshop has no use for a BSN: data minimisation, GDPR art. 5(1)(c) and UAVG art.
46), no real company names. :func:`check_customer` returns the reasons a record is refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from sandbox_cms.data.reference import Reference, load_reference, normalise_company

REQUIRED_FIELDS = ("first_name", "last_name", "email")
# Fields of a customer record an import may fill (the customers table without the columns
# the sandbox assigns itself: id, provenance_id).
CUSTOMER_FIELDS = (
    "first_name", "last_name", "email", "phone", "street", "house_number", "postcode", "city",
    "country", "birth_date", "iban", "company", "created_at", "closed_at",
)
DATE_FIELDS = ("birth_date",)
MAX_FIELD_CHARS = 1000  # no customer field of a webshop needs more
MAX_EMAIL_CHARS = 254  # the longest address mail can deliver (RFC 5321)
DATETIME_FIELDS = ("created_at", "closed_at")

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and line breaks are fine
# Field names that announce a national identification number (BSN, sofinummer, SSN, ...).
_NATIONAL_ID_NAME = re.compile(
    r"(^|[^a-z])(bsn|ssn|sofi|nin)([^a-z]|$)"
    r"|burgerservice|sofinummer|socialsecurity|social_security|nationalid|national_id"
    r"|citizenservice|citizen_service|personalidentity|personnummer"
)
# Nine digits standing alone, optionally written 1234.56.782, 123.456.782 or 123 456 782.
NINE_DIGITS = re.compile(
    r"(?<![0-9A-Za-z.])(\d{4}\.\d{2}\.\d{3}|\d{3}([ .])\d{3}\2\d{3}|\d{9})(?![0-9A-Za-z]|\.\d)"
)


# --- single-value checks --------------------------------------------------------------------


_LETTER_DIGITS = {ord(ch): str(value) for value, ch in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10)}


def _iban_remainder(rearranged: str) -> int:
    """Mod-97 of an IBAN string whose letters become numbers (A=10 ... Z=35)."""
    return int(rearranged.translate(_LETTER_DIGITS)) % 97


def normalise_iban(value: str) -> str:
    """Upper-case an IBAN and drop spaces."""
    return value.replace(" ", "").upper()


def iban_is_valid(value: str) -> bool:
    """True when `value` is shaped like an IBAN and its check digits pass mod-97."""
    iban = normalise_iban(value)
    if not _IBAN_SHAPE.match(iban):
        return False
    return _iban_remainder(iban[4:] + iban[:4]) == 1


def make_iban(bank_code: str, account: int, country: str = "NL") -> str:
    """A Dutch-format IBAN (4-letter bank code + 10-digit account) with correct check digits."""
    bank = bank_code.upper()
    if not re.fullmatch(r"[A-Z]{4}", bank):
        raise ValueError(f"bank code must be four letters, got {bank_code!r}")
    if not 0 <= account < 10**10:
        raise ValueError(f"account number must have at most 10 digits, got {account}")
    bban = f"{bank}{account:010d}"
    check = 98 - _iban_remainder(bban + country.upper() + "00")
    return f"{country.upper()}{check:02d}{bban}"


def passes_elfproef(value: str | int) -> bool:
    """True when `value` is nine digits passing the Dutch BSN 11-proof (not all zeros).

    The check: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11.
    """
    digits = re.sub(r"[ .]", "", str(value))
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0


def possible_bsns(text: str) -> list[str]:
    """Nine-digit numbers in `text` that pass the 11-proof: each could be a BSN."""
    return [m.group(1) for m in NINE_DIGITS.finditer(text) if passes_elfproef(m.group(1))]


def email_domain(address: str) -> str | None:
    """The lower-cased domain of an e-mail address, or None if it is not shaped like one."""
    match = _EMAIL.match(address.strip())
    return match.group(1).lower().rstrip(".") if match else None


def is_reserved_domain(domain: str, reference: Reference | None = None) -> bool:
    """True for example.com/.net/.org, the TLDs .test/.example/.invalid, and their subdomains."""
    ref = reference or load_reference()
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if labels[-1] in ref.reserved_tlds:
        return True
    return any(".".join(labels[i:]) in ref.reserved_domains for i in range(len(labels) - 1))


def domain_kind(domain: str, reference: Reference | None = None) -> str:
    """'reserved', 'free-mail', 'provider' (a Dutch ISP's mail) or 'other'."""
    ref = reference or load_reference()
    domain = domain.lower().rstrip(".")
    if is_reserved_domain(domain, ref):
        return "reserved"
    if domain in ref.free_mail:
        return "free-mail"
    if domain in ref.provider_mail:
        return "provider"
    return "other"


def iban_problem(value: str, reference: Reference | None = None) -> str | None:
    """Why an IBAN may not be in the sandbox, or None if it is valid with a fictional code."""
    ref = reference or load_reference()
    iban = normalise_iban(value)
    if not iban_is_valid(iban):
        return "IBAN is not valid (wrong shape or check digits)"
    code = iban[4:8]
    if code in ref.fictional_banks:
        return None
    allowed = ", ".join(ref.fictional_banks)
    if code in ref.real_banks:
        return (f"IBAN has the real bank code {code} ({ref.real_banks[code]}); "
                f"use a fictional bank code ({allowed})")
    return f"IBAN bank code {code} is not a fictional bank code ({allowed})"


@functools.lru_cache(maxsize=8192)
def _first_word(token: str) -> str:
    words = normalise_company(token).split()
    return words[0] if words else ""


def real_company(name: str, reference: Reference | None = None) -> str | None:
    """The listed real company `name` stands for, or None."""
    ref = reference or load_reference()
    head = name.split(None, 1)
    if not head:
        return None
    # Fast rejection (scans check 100k names): the first word must start some listed name.
    # Names are made of a few common first words (first names), so _first_word is cached.
    first = _first_word(head[0])
    if first and first not in ref.company_first_words:
        return None
    return ref.companies.get(normalise_company(name))


@functools.lru_cache(maxsize=1024)
def is_national_id_field(name: str) -> bool:
    """True for field names like bsn, ssn, national_id, burgerservicenummer, sofinummer."""
    return bool(_NATIONAL_ID_NAME.search(name.strip().lower()))


# --- a whole record -------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_customer(record: dict[str, Any], reference: Reference | None = None) -> list[str]:
    """The reasons this customer record is refused; an empty list means it is accepted."""
    ref = reference or load_reference()
    reasons: list[str] = []
    for name, value in record.items():
        if not isinstance(name, str):
            reasons.append("a field has no name")
            continue
        if is_national_id_field(name):
            if _blank(value):
                reasons.append(f"field '{name}' is a national ID field (a webshop needs none)")
            else:
                reasons.append(f"field '{name}' holds a national ID number")
        elif name not in CUSTOMER_FIELDS:
            reasons.append(f"field '{name}' is not a customer field")
        elif not _blank(value) and not isinstance(value, str):
            reasons.append(f"field '{name}' must be text, not {_type_name(value)}")
        elif isinstance(value, str) and _CONTROL.search(value):
            reasons.append(f"field '{name}' holds a control character")
        elif isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            reasons.append(f"field '{name}' is longer than {MAX_FIELD_CHARS:,} characters")
        scalar = isinstance(value, str | int) and not isinstance(value, bool)
        if scalar and not is_national_id_field(name) and possible_bsns(str(value)):
            reasons.append(f"field '{name}' holds a 9-digit number that passes the 11-proof "
                           "(a possible BSN)")

    for name in REQUIRED_FIELDS:
        if _blank(record.get(name)):
            reasons.append(f"required field '{name}' is missing")

    def text(name: str) -> str | None:
        value = record.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    if (email := text("email")) is not None:
        domain = email_domain(email)
        if len(email) > MAX_EMAIL_CHARS:
            if len(email) <= MAX_FIELD_CHARS:
                reasons.append(f"e-mail is longer than {MAX_EMAIL_CHARS} characters (RFC 5321)")
        elif domain is None:
            reasons.append("e-mail is not a valid address")
        elif not is_reserved_domain(domain, ref):
            reasons.append(f"e-mail domain {domain} is not a reserved example domain")

    if (iban := text("iban")) is not None and (problem := iban_problem(iban, ref)):
        reasons.append(problem)

    if (company := text("company")) is not None and (real := real_company(company, ref)):
        reasons.append(f"company '{company}' is a real company ({real})")

    for name in DATE_FIELDS:
        if (value := text(name)) is not None:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                reasons.append(f"field '{name}' must be an ISO date (YYYY-MM-DD), not {value!r}")
    for name in DATETIME_FIELDS:
        if (value := text(name)) is not None:
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                reasons.append(f"field '{name}' must be an ISO date or date-time, not {value!r}")
    return reasons
