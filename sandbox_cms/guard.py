"""The guard: pure checks that keep real-looking personal data out of the sandbox."""

from __future__ import annotations

import re

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


def _iban_remainder(rearranged: str) -> int:
    """Mod-97 of an IBAN string whose letters become numbers (A=10 ... Z=35)."""
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97


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
