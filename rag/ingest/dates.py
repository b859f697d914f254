"""Finding publication dates in article text and writing them as ISO 8601."""

from __future__ import annotations

import re
from datetime import date

MONTHS = {
    # French
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6,
    "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "décembre": 12, "decembre": 12,
    # English
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))

_ISO = re.compile(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?\b")
_NUMERIC = re.compile(r"\b(\d{1,2})[./](\d{1,2})[./](\d{4})\b")  # day first, as in French
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:er)?\s+({_MONTH})\s+(\d{{4}})\b", re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}}),?\s+(\d{{4}})\b", re.IGNORECASE)


def _iso(year: int, month: int, day: int | None) -> str | None:
    try:
        if day is None:
            date(year, month, 1)
            return f"{year:04d}-{month:02d}"
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def find_dates(text: str) -> list[tuple[int, str]]:
    """Every date written in `text`, as (position, ISO 8601 string), in order of position."""
    found: list[tuple[int, str]] = []
    for m in _ISO.finditer(text):
        day = int(m.group(3)) if m.group(3) else None
        found.append((m.start(), _iso(int(m.group(1)), int(m.group(2)), day) or ""))
    for m in _NUMERIC.finditer(text):
        found.append((m.start(), _iso(int(m.group(3)), int(m.group(2)), int(m.group(1))) or ""))
    for m in _DAY_MONTH_YEAR.finditer(text):
        iso = _iso(int(m.group(3)), MONTHS[m.group(2).lower()], int(m.group(1)))
        found.append((m.start(), iso or ""))
    for m in _MONTH_DAY_YEAR.finditer(text):
        iso = _iso(int(m.group(3)), MONTHS[m.group(1).lower()], int(m.group(2)))
        found.append((m.start(), iso or ""))
    return sorted((pos, iso) for pos, iso in found if iso)


def first_date(text: str) -> str | None:
    dates = find_dates(text)
    return dates[0][1] if dates else None


def most_precise(candidates: list[str]) -> str | None:
    """The most precise of several dates (a day beats a month); the first on a tie."""
    best: str | None = None
    for candidate in candidates:
        if best is None or len(candidate) > len(best):
            best = candidate
    return best


def parse_date(value: str) -> str:
    """Normalise a user-given date (ISO 8601 day or month) or raise ValueError."""
    value = value.strip()
    m = _ISO.fullmatch(value)
    if m:
        iso = _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None)
        if iso:
            return iso
    raise ValueError(f"{value!r} is not an ISO 8601 date; use YYYY-MM-DD or YYYY-MM")
