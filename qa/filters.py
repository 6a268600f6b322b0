"""User filters on publication date and source, validated before any search runs.

The record itself, :class:`~index.models.Filters`, lives in ``index`` (the store and
the lexical view apply it); it is re-exported here for ``from qa.filters import Filters``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from index.models import Filters
from qa.errors import FilterError

__all__ = ["FILTER_KEYS", "Filters", "parse_filters"]

FILTER_KEYS = ("since", "until", "source")


def _to_datetime(key: str, value: Any, *, end_of_day: bool) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.max if end_of_day else time.min, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            try:
                return _to_datetime(key, datetime.fromisoformat(value.strip()), end_of_day=False)
            except ValueError:
                raise FilterError(
                    f"filter {key!r}: {value!r} is not a date (use YYYY-MM-DD)"
                ) from None
        return _to_datetime(key, parsed, end_of_day=end_of_day)
    raise FilterError(f"filter {key!r}: expected a date or YYYY-MM-DD, got {type(value).__name__}")


def parse_filters(filters: Mapping[str, Any] | Filters | None) -> Filters:
    """Validate user filters.

    Args:
        filters: ``{"since": ..., "until": ..., "source": ...}`` with dates as
            ``date``, ``datetime`` or ``YYYY-MM-DD``; ``until`` includes its whole day.

    Returns:
        The validated filters.

    Raises:
        FilterError: Unknown keys, unparsable dates, or ``since`` after ``until``.
    """
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise FilterError(
            f"unknown filter key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(FILTER_KEYS)}"
        )
    since = _to_datetime("since", filters.get("since"), end_of_day=False)
    until = _to_datetime("until", filters.get("until"), end_of_day=True)
    if since and until and since > until:
        raise FilterError(f"filter 'since' ({since:%Y-%m-%d}) is after 'until' ({until:%Y-%m-%d})")
    source = filters.get("source")
    if source is not None and not isinstance(source, str):
        raise FilterError(f"filter 'source': expected a tag string, got {type(source).__name__}")
    return Filters(since, until, (source or "").strip() or None)
