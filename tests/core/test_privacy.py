from __future__ import annotations

import pytest

from dialer.core.privacy import mask_phone, pseudonymise, scrub_text


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613812345678", "+86138****5678"),
        ("13812345678", "138****5678"),
        ("+12085550123", "+1208***0123"),
        ("+447911123456", "+44791***3456"),
        ("", ""),
        ("not-a-number", "********"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_mask_never_contains_the_middle_digits() -> None:
    for n in range(10_000_000, 10_000_000 + 500):
        phone = f"+86138{n:08d}"
        assert phone[6:10] not in mask_phone(phone)[6:]


def test_pseudonym_is_keyed_stable_and_not_the_id() -> None:
    a = pseudonymise("borrower-1", b"k1")
    assert a == pseudonymise("borrower-1", b"k1")
    assert a != pseudonymise("borrower-1", b"k2")
    assert "borrower-1" not in a and a.startswith("b_") and len(a) == 34
    with pytest.raises(ValueError):
        pseudonymise("x", b"")


def test_scrub_text_masks_numbers_but_leaves_times_and_uniqueids() -> None:
    text = "call +8613812345678 / 13912345678 at 1795862398.466 uid 1795862398.12 2026-11-28"
    out = scrub_text(text)
    assert "+8613812345678" not in out and "13912345678" not in out
    assert "+86138****5678" in out and "139****5678" in out
    assert "1795862398.466" in out and "2026-11-28" in out
