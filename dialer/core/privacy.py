"""Masking and pseudonymisation: personal data never leaves the process in clear.

Phone numbers keep what an operator needs to recognise a call (country code, the first
three national digits, the last four) and lose the rest. Borrower ids become a keyed
HMAC: stable for joins downstream, useless without the key, and not reversible by
hashing a list of known ids (which a plain hash would be).
"""

from __future__ import annotations

import hashlib
import hmac
import re

_E164 = re.compile(r"^\+(\d{1,3}?)(\d{6,14})$")

# Country calling codes by length; enough to split the national part for masking.
_CC1 = {"1", "7"}
_CC2 = {
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
}


def _split_country(digits: str) -> tuple[str, str]:
    if digits[:1] in _CC1:
        return digits[:1], digits[1:]
    if digits[:2] in _CC2:
        return digits[:2], digits[2:]
    return digits[:3], digits[3:]


def mask_phone(phone: str) -> str:
    """`+8613812345678` -> `+86138****5678`; national numbers -> `138****5678`.

    Anything that does not look like a phone number is masked whole, so a bad value
    can never leak through this function.
    """
    if not phone:
        return ""
    plus = phone.startswith("+")
    digits = phone[1:] if plus else phone
    if not digits.isdigit() or len(digits) < 7:
        return "*" * min(len(phone), 8)
    if plus:
        cc, national = _split_country(digits)
        prefix = "+" + cc
    else:
        prefix, national = "", digits
    if len(national) <= 7:
        return prefix + national[:2] + "*" * (len(national) - 4) + national[-2:]
    return prefix + national[:3] + "*" * (len(national) - 7) + national[-4:]


def pseudonymise(value: str, key: bytes) -> str:
    """Keyed, stable pseudonym for a borrower id (HMAC-SHA256, 16 bytes, hex)."""
    if not key:
        raise ValueError("pseudonymisation key must not be empty")
    return "b_" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


# E.164 numbers, and bare 11-digit mainland-China mobiles (1[3-9]x xxxx xxxx). Epoch
# timestamps (10 digits) and Asterisk uniqueids are left alone.
_PHONE_IN_TEXT = re.compile(r"\+\d{7,15}(?!\d)|(?<![\d.])1[3-9]\d{9}(?![\d.])")


def scrub_text(text: str) -> str:
    """Mask every phone-like number in free text (a last line of defence for logs)."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
