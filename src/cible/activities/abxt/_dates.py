"""Activity schedule dates in the formats Adobe's Admin API accepts.

Adobe's reference lists ``yyyy-MM-dd'T'HH:mm:ssXXX``, ``yyyy-MM-dd'T'HH:mm:ss``,
``yyyy-MM-dd'T'HH``, ``yyyy-MM-dd``, ``yyyy-MM-dd'T'HH:mm:ss.SSS`` and
``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``; its examples also write ``2017-05-01T08:00Z``. A date without
an offset is read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_date(value: str) -> datetime:
    """The instant ``value`` names, timezone-aware; ``ValueError`` saying which formats work."""
    match = _DATE.match(value.strip())
    if match is None:
        raise ValueError(
            "not a date: use ISO 8601 such as 2024-03-01T08:00:00Z, 2024-03-01T08:00Z, "
            "2024-03-01T08 or 2024-03-01"
        )
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset is not None and hour is None:
        raise ValueError("a time zone offset needs a time")
    zone = UTC
    if offset is not None and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=zone,
        )
    except ValueError as exc:
        raise ValueError(f"not a valid date ({exc})") from None
    return moment.astimezone(UTC)
