"""Search filters: declared by the adapter, validated here, applied as ORM lookups.

A request never names an ORM lookup. The adapter maps each public filter name
to one lookup on the product (``"price_max": SearchFilter("price__lte",
"decimal")``); ``parse_filters()`` accepts exactly those names, converts each
value to its declared type, and returns the lookups that ``search.py`` applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from visual_search.conf import vs_settings

TYPES = ("string", "integer", "decimal", "boolean")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class FilterError(ValueError):
    """A filter a request may not use, or a value of the wrong type; ``code`` is stable."""

    def __init__(self, code: str, name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name


@dataclass(frozen=True)
class SearchFilter:
    """One public filter: the ORM lookup on the product it becomes, and its value type."""

    lookup: str
    type: str = "string"
    description: str = ""
    max_length: int = 100  # for strings

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"SearchFilter type must be one of {', '.join(TYPES)}, not {self.type!r}.")

    def parse(self, name: str, raw: Any) -> Any:
        """The value of ``raw`` (a query-string value or a Python value) in this filter's type."""
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        text = raw if isinstance(raw, str) else str(raw)
        text = text.strip()
        if self.type == "boolean":
            if isinstance(raw, bool):
                return raw
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise FilterError("invalid_filter", name, f"{name} must be true or false.")
        if self.type == "integer":
            try:
                value = int(text)
            except ValueError:
                raise FilterError("invalid_filter", name, f"{name} must be a whole number.") from None
            if abs(value) > 2**63 - 1:
                raise FilterError("invalid_filter", name, f"{name} is out of range.")
            return value
        if self.type == "decimal":
            try:
                value = Decimal(text)
            except InvalidOperation:
                raise FilterError("invalid_filter", name, f"{name} must be a number.") from None
            if not value.is_finite() or abs(value) >= Decimal("1e15"):
                raise FilterError("invalid_filter", name, f"{name} must be a finite number.")
            return value
        if not text or len(text) > self.max_length or "\x00" in text:
            raise FilterError(
                "invalid_filter", name, f"{name} must be 1 to {self.max_length} characters."
            )
        return text


def parse_filters(
    params: Mapping[str, Any],
    *,
    adapter: Any = None,
    ignore: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate request parameters against the adapter's filters; return ``{orm_lookup: value}``.

    Names in ``ignore`` (say ``k`` or ``image``) are skipped; an empty value
    means "no filter". Raises ``FilterError`` (code ``unknown_filter`` or
    ``invalid_filter``) for anything else.
    """
    # An adapter instance (anything with get_filters()); the configured one by default.
    declared = (adapter or vs_settings.ADAPTER()).get_filters()
    skipped = set(ignore)
    lookups: dict[str, Any] = {}
    for name in params:
        if name in skipped:
            continue
        if name not in declared:
            allowed = ", ".join(sorted(declared)) or "none"
            raise FilterError("unknown_filter", name, f"Unknown filter {name!r}; allowed: {allowed}.")
        raw = params.getlist(name) if hasattr(params, "getlist") else params[name]
        if raw in ("", None, []) or raw == [""]:
            continue
        spec = declared[name]
        lookups[spec.lookup] = spec.parse(name, raw)
    return lookups
