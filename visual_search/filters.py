"""Search filters: declared by the adapter, validated here, applied as ORM lookups.

A request never names an ORM lookup. The adapter maps each public filter name
to one lookup on the product (``"price_max": SearchFilter("price__lte",
"decimal")``); ``parse_filters()`` accepts exactly those names, converts each
value to its declared type, and returns the lookups that ``search.py`` applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from visual_search.conf import vs_settings

TYPES = ("string", "integer", "decimal", "boolean")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


#: Lookups that match more than one value, so a filter using one has no list of values to offer.
_PATTERN_LOOKUPS = ("iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith",
                    "regex", "iregex", "gt", "gte", "lt", "lte", "in", "range", "isnull")
#: At most this many valid values are listed in an error.
MAX_LISTED_VALUES = 50


class FilterError(ValueError):
    """A filter a request may not use, or a value of the wrong type; ``code`` is stable.

    ``valid_values`` lists ``(value, label)`` pairs when the value was not one of them.
    """

    def __init__(self, code: str, name: str, message: str, valid_values: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.valid_values = valid_values


@dataclass(frozen=True)
class SearchFilter:
    """One public filter: the ORM lookup on the product it becomes, and its value type."""

    lookup: str
    type: str = "string"
    description: str = ""
    max_length: int = 100  # for strings
    #: For a text filter over a short list of values (a category slug): the lookup naming each value
    #: for people (``"category__name"``). Values are then checked against what the searchable products
    #: have (an unknown one is an error listing the valid ones), a name is accepted for its value, and
    #: the search page offers the names.
    label: str = ""
    #: For a filter that is not a plain field (a product set, a custom lookup): a callable giving the
    #: ``(value, label)`` pairs it takes. Values are checked against them as with ``label``.
    choices: Callable[[], Iterable[tuple[Any, Any]]] | None = None

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
        return self.known_choice(name, text) if self.choices is not None else text

    def known_choice(self, name: str, text: str) -> str:
        """The value ``text`` names among ``choices()`` (a value, or a label in any case), else ``FilterError``."""
        pairs = [(str(value), str(label)) for value, label in self.choices()]
        for value, _label in pairs:
            if text == value:
                return value
        for value, label in pairs:
            if text.lower() == label.lower():
                return value
        raise unknown_value(name, text, pairs[:MAX_LISTED_VALUES])


def unknown_value(name: str, value: str, choices: list[tuple[str, str]]) -> FilterError:
    """The error for a value the filter does not take, listing the ``(value, label)`` pairs it does."""
    listed = ", ".join(f"{v} ({label})" if label != v else v for v, label in choices) or "none"
    return FilterError(
        "unknown_filter_value", name, f"Unknown {name} {value!r}. Valid values: {listed}.",
        valid_values=choices,
    )


def filter_choices(
    spec: SearchFilter, adapter: Any, limit: int | None = None
) -> list[tuple[str, str]] | None:
    """The ``(value, label)`` pairs a text filter can take among the searchable products, in label order.

    None when the lookup is not a plain field (a pattern or a custom lookup), or when
    there are more than ``limit`` values.
    """
    from django.core.exceptions import FieldError  # noqa: PLC0415

    if spec.choices is not None:
        pairs = [(str(value), str(label)) for value, label in spec.choices()]
        return None if limit is not None and len(pairs) > limit else pairs
    field = spec.lookup.removesuffix("__exact")
    if spec.type != "string" or ("__" in field and field.rsplit("__", 1)[1] in _PATTERN_LOOKUPS):
        return None
    label = spec.label or field
    try:
        rows = adapter.get_queryset().order_by(label, field).values_list(field, label).distinct()
        rows = list(rows[: limit + 1] if limit is not None else rows)
    except FieldError:  # a custom lookup, not a field path (Oscar's category subtree)
        return None
    pairs = [(str(value), str(name)) for value, name in rows if value not in (None, "")]
    if limit is not None and len(pairs) > limit:
        return None
    return pairs


def _known_value(name: str, spec: SearchFilter, value: str, adapter: Any) -> str:
    """``value`` if some searchable product has it, the value a label names, else ``FilterError``."""
    products = adapter.get_queryset()
    if products.filter(**{spec.lookup: value}).exists():
        return value
    field = spec.lookup.removesuffix("__exact")
    named = products.filter(**{f"{spec.label}__iexact": value}).values_list(field, flat=True).first()
    if named is not None:
        return str(named)
    raise unknown_value(name, value, filter_choices(spec, adapter, MAX_LISTED_VALUES) or [])


def parse_filters(
    params: Mapping[str, Any],
    *,
    adapter: Any = None,
    ignore: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate request parameters against the adapter's filters; return ``{orm_lookup: value}``.

    Names in ``ignore`` (say ``k`` or ``image``) are skipped; an empty value
    means "no filter". Raises ``FilterError`` (code ``unknown_filter``,
    ``invalid_filter``, or ``unknown_filter_value`` for a filter with a ``label``)
    for anything else.
    """
    # An adapter instance (anything with get_filters() and get_queryset()); the configured one by default.
    adapter = adapter or vs_settings.ADAPTER()
    declared = adapter.get_filters()
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
        value = spec.parse(name, raw)
        if spec.label and spec.choices is None and spec.type == "string":
            value = _known_value(name, spec, value, adapter)
        lookups[spec.lookup] = value
    return lookups
