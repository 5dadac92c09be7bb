"""Clicks, basket adds and purchases that follow a search, tied to it by a signed token or the session."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction

from visual_search.analytics.tokens import read_token

logger = logging.getLogger(__name__)

#: The session remembers, per product clicked, which search led to it (so a later basket add counts).
SESSION_KEY = "visual_search_clicks"
SESSION_LIMIT = 50


def _record(event_id: str, product: str, position: int | None, kind: str):
    from visual_search.analytics.models import Interaction, SearchEvent  # noqa: PLC0415

    if not SearchEvent.objects.filter(pk=event_id).exists():
        return None  # purged since, or a token of another database
    try:
        with transaction.atomic():
            interaction, _ = Interaction.objects.get_or_create(
                event_id=event_id, product=product, kind=kind, defaults={"position": position or None},
            )
    except IntegrityError:  # the same click, twice at once
        return Interaction.objects.filter(event_id=event_id, product=product, kind=kind).first()
    except DatabaseError:
        logger.warning("Could not record a %s", kind, exc_info=True)
        return None
    return interaction


def record_click(token: str, *, request=None):
    """Count a click on a result; raises ``tokens.BadToken`` for a token the server did not sign."""
    event_id, product, position = read_token(token)
    interaction = _record(event_id, product, position, "click")
    session = getattr(request, "session", None)
    if interaction is not None and session is not None:
        clicks = dict(session.get(SESSION_KEY, {}))
        clicks[product] = [event_id, position]
        session[SESSION_KEY] = dict(list(clicks.items())[-SESSION_LIMIT:])
    return interaction


def record_conversion(product: Any, kind: str = "basket", *, request=None, token: str | None = None):
    """Count a basket add (``kind="basket"``) or a purchase (``"purchase"``) of ``product``.

    It counts when the product was reached from a search: through ``token`` (an
    API client passes the result's ``click_token``) or the shopper's session (a
    click on a result link recorded it). Returns the ``Interaction``, or None
    when nothing ties the product to a search.
    """
    if kind not in ("basket", "purchase"):
        raise ValueError(f"kind must be 'basket' or 'purchase', not {kind!r}.")
    pk = str(getattr(product, "pk", product))
    if token:
        event_id, tokened, position = read_token(token)
        if tokened != pk:
            return None
    else:
        entry = (getattr(request, "session", None) or {}).get(SESSION_KEY, {}).get(pk)
        if not entry:
            return None
        event_id, position = entry
    return _record(event_id, pk, position, kind)
