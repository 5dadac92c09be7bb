"""Recording a search: one INSERT after the results are known, never failing the search itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connections, router, transaction
from django.urls import NoReverseMatch, reverse
from django.utils.crypto import salted_hmac

from visual_search.analytics.tokens import make_token
from visual_search.conf import vs_settings
from visual_search.search.results import ResultPage
from visual_search.search.throttling import client_address

logger = logging.getLogger(__name__)

APP = "visual_search.analytics"


def enabled() -> bool:
    """The sub-app is installed and ``VISUAL_SEARCH["SEARCH_LOG"]`` is on."""
    return apps.is_installed(APP) and bool(vs_settings.SEARCH_LOG)


def caller_of(request) -> str:
    """Who searched, as the log keeps it: an API key's name, a user's pk, or a keyed hash of the address."""
    if request is None:
        return ""
    key = getattr(request, "auth", None)
    if getattr(key, "name", None):
        return f"key:{key.name}"[:80]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    # Keyed with SECRET_KEY: repeats from one address group together, the address cannot be read back.
    return "anon:" + salted_hmac("visual_search.analytics.caller", client_address(request)).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, float, bool, str)) or value is None else str(value)


def record_search(
    request,
    surface: str,
    page: ResultPage,
    *,
    k: int | None = None,
    filters: Mapping[str, Any] | None = None,
    trace: Mapping[str, Any] | None = None,
    query_product: Any = None,
):
    """Store one search and what it showed; return the ``SearchEvent``, or None when not logging.

    ``trace`` is what the query service measured (``encoder``, ``decode_ms``,
    ``embed_ms``, ``query_ms``, ``photo_hash``, ``photo``, ``describe_photo``). A photo
    with no close match is named by ``describe_photo`` (its top ImageNet class, from the
    features its search computed). A database error is logged and swallowed: analytics
    never cost a shopper their results.
    """
    if not enabled():
        return None
    from visual_search.analytics.models import SearchEvent  # noqa: PLC0415 - only once the sub-app is installed

    trace = trace or {}
    label = None if page.close_match else _photo_label(trace)
    event = SearchEvent(
        surface=surface,
        caller=caller_of(request),
        encoder=str(trace.get("encoder") or ""),
        filters={str(name): _plain(value) for name, value in (filters or {}).items()},
        k=min(int(k or len(page.items)), 32767),
        query_product=str(query_product if query_product is not None else "")[:64],
        results=[[str(item.pk), round(float(item.score), 4), _confidence(item)] for item in page.items],
        close_match=page.close_match,
        decode_ms=trace.get("decode_ms"),
        embed_ms=trace.get("embed_ms"),
        query_ms=trace.get("query_ms"),
        photo_hash=str(trace.get("photo_hash") or ""),
        photo=str(trace.get("photo") or ""),
        photo_label=label.name[:64] if label else None,
        photo_label_probability=round(label.probability, 4) if label else None,
    )
    using = router.db_for_write(SearchEvent)
    try:
        if connections[using].in_atomic_block:
            with transaction.atomic(using=using):  # a savepoint: a failed INSERT must not break the host's transaction
                event.save(force_insert=True, using=using)
        else:
            _insert_without_flush(event, using)
    except DatabaseError:
        logger.warning("Could not record a search in the analytics log", exc_info=True)
        return None
    return event


def _photo_label(trace: Mapping[str, Any]):
    """The query photo's top ImageNet class (an ``ImageLabel``), when its encoder names what it sees."""
    describe = trace.get("describe_photo")
    if describe is None:
        return None
    try:
        return describe()
    except Exception:  # noqa: BLE001 - a label is a nicety: the search and its log go on without it
        logger.warning("Could not name a query photo for the analytics log", exc_info=True)
        return None


def _insert_without_flush(event, using: str) -> None:
    """One statement, its own transaction, committed without waiting for the WAL to reach the disk.

    A crash may lose the last few searches, never the shop's data; one round trip instead of
    four (BEGIN, SET LOCAL, INSERT, COMMIT). Only outside the host's transactions, whose
    durability is not ours to change.
    """
    connection = connections[using]
    fields = event._meta.concrete_fields
    values = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH durability AS (SELECT set_config('synchronous_commit', 'off', true)) "
            f"INSERT INTO {connection.ops.quote_name(event._meta.db_table)} ({columns}) "
            # Typed, as INSERT ... VALUES would be: a NULL in a SELECT list is otherwise taken for text.
            f"SELECT {', '.join(f'%s::{f.db_type(connection)}' for f in fields)} FROM durability",
            values,
        )


def _confidence(item) -> float | None:
    value = getattr(item, "confidence", None)
    return None if value is None else round(float(value), 4)


def click_token(event, item) -> str | None:
    """The signed token for ``item`` of ``event``'s results (None when the search was not logged)."""
    if event is None:
        return None
    position = next((i for i, row in enumerate(event.results, 1) if row[0] == str(item.pk)), 0)
    return make_token(event.pk, item.pk, position)


def click_url(event, item) -> str | None:
    """The click counter's URL for ``item`` of ``event`` (None when the search was not logged).

    A POST there (the page's beacon) counts the click; a GET counts it and redirects to the product.
    """
    token = click_token(event, item)
    if token is None:
        return None
    try:
        return reverse("visual_search:click", args=[token])
    except NoReverseMatch:  # the host did not include visual_search.urls: no click counting
        return None
