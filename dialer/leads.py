"""Lead files in, validated leads out. Bad rows are reported by line number and skipped.

A lead file is CSV with a header. Required columns: `borrower_id`, `phone`. Optional:
`name`, `timezone` (IANA name), `debt_id`, `party` (debtor|third_party), `purpose`,
`priority` (integer, larger first), `region` (ISO country used to read national numbers,
default from --default-region). Phone numbers are normalised to E.164 with phonenumbers;
a number that is not a valid number for its region is refused, since dialling it could only
fail and would still count against the borrower's attempt caps.
"""

from __future__ import annotations

import csv
import io
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import phonenumbers

from .core.model import Lead
from .core.privacy import mask_phone

REQUIRED = ("borrower_id", "phone")
OPTIONAL = ("name", "timezone", "debt_id", "party", "purpose", "priority", "region")
PARTIES = ("debtor", "third_party")
PURPOSES = ("collection", "notice", "location", "service", "verification", "marketing")


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(slots=True)
class LoadResult:
    leads: list[Lead]
    errors: list[RowError]


_PARSE_ERRORS = {
    getattr(phonenumbers.NumberParseException, name): name.lower()
    for name in ("INVALID_COUNTRY_CODE", "NOT_A_NUMBER", "TOO_SHORT_AFTER_IDD", "TOO_SHORT_NSN", "TOO_LONG")
    if hasattr(phonenumbers.NumberParseException, name)
}


def _parse_error_name(error_type: object) -> str:
    """phonenumbers reports the error as an int constant in some releases and an enum in
    others: name it either way."""
    name = getattr(error_type, "name", None)
    if isinstance(name, str):
        return name.lower()
    return _PARSE_ERRORS.get(error_type, f"error {error_type}")


def normalise_phone(raw: str, region: str) -> str:
    """E.164 or ValueError with a message that never repeats the full number."""
    try:
        num = phonenumbers.parse(raw.strip(), region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number ({_parse_error_name(exc.error_type)})") from None
    if not phonenumbers.is_valid_number(num):
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        raise ValueError(f"not a valid number for its region: {mask_phone(e164)}")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _row_to_lead(row: dict[str, str], line: int, default_region: str) -> Lead | RowError:
    def err(f: str, m: str) -> RowError:
        return RowError(line, f, m)

    bid = (row.get("borrower_id") or "").strip()
    if not bid:
        return err("borrower_id", "required, got an empty value")
    if len(bid) > 128:
        return err("borrower_id", "at most 128 characters")
    raw_phone = (row.get("phone") or "").strip()
    if not raw_phone:
        return err("phone", "required, got an empty value")
    region = (row.get("region") or default_region).strip()
    try:
        phone = normalise_phone(raw_phone, region)
    except ValueError as exc:
        return err("phone", f"{exc} (expected E.164 like +8613812345678 or a national number)")
    tz = (row.get("timezone") or "").strip() or None
    if tz is not None:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return err("timezone", f"unknown IANA time zone {tz!r} (expected e.g. Asia/Shanghai)")
    party = (row.get("party") or "debtor").strip()
    if party not in PARTIES:
        return err("party", f"expected one of {', '.join(PARTIES)}, got {party!r}")
    purpose = (row.get("purpose") or "collection").strip()
    if purpose not in PURPOSES:
        return err("purpose", f"expected one of {', '.join(PURPOSES)}, got {purpose!r}")
    prio_raw = (row.get("priority") or "0").strip()
    try:
        priority = int(prio_raw)
    except ValueError:
        return err("priority", f"expected an integer, got {prio_raw!r}")
    return Lead(borrower_id=bid, phone=phone, name=(row.get("name") or "").strip(), timezone=tz,
                debt_id=(row.get("debt_id") or "").strip(), party=party, purpose=purpose,
                priority=priority)


def parse_leads(text: Iterable[str], default_region: str = "CN") -> LoadResult:
    reader = csv.DictReader(text)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return LoadResult([], [RowError(1, ",".join(missing), "missing required column(s) in the header")])
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    errors = [RowError(1, h, "unknown column (ignored)") for h in unknown]
    reader.fieldnames = header
    leads: list[Lead] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(RowError(line, "row", f"{len(row[None])} more field(s) than the header"))
            continue
        got = _row_to_lead(row, line, default_region)
        if isinstance(got, RowError):
            errors.append(got)
        elif got.borrower_id in seen:
            errors.append(RowError(line, "borrower_id", "duplicate borrower in this file (kept the first)"))
        else:
            seen.add(got.borrower_id)
            leads.append(got)
    return LoadResult(leads, errors)


def load_leads(path: str, default_region: str = "CN") -> LoadResult:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return parse_leads(f, default_region)


def demo_leads(n: int, seed: int = 7) -> Iterator[Lead]:
    """Fictional mainland mobiles (+86 1380013xxxx style) for the embedded demo."""
    for i in range(n):
        yield Lead(borrower_id=f"demo-{seed}-{i:05d}", phone=f"+86138{(seed * 100003 + i) % 10**8:08d}",
                   timezone="Asia/Shanghai")


def parse_leads_text(text: str, default_region: str = "CN") -> LoadResult:
    return parse_leads(io.StringIO(text), default_region)
