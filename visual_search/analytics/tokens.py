"""Signed click tokens: which search, which product, which rank. Tamper-proof, not secret."""

from __future__ import annotations

from typing import Any

from django.core import signing

SALT = "visual_search.analytics.click"
#: A token older than this no longer counts a click (a bookmarked result link, say).
MAX_AGE_SECONDS = 30 * 24 * 3600

BadToken = signing.BadSignature


def make_token(event_id: Any, product_pk: Any, position: int) -> str:
    """A URL-safe token for the result at ``position`` (1 = first) of search ``event_id``."""
    return signing.dumps([str(event_id), str(product_pk), int(position)], salt=SALT, compress=True)


def read_token(token: str) -> tuple[str, str, int]:
    """``(event id, product pk, position)``; raises ``BadToken`` for a forged, mangled or stale token."""
    value = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[2], int)):
        raise BadToken("Malformed click token.")
    return str(value[0]), str(value[1]), value[2]
