"""Who is asking: client addresses behind trusted proxies, and the search page's throttles.

Throttles must key on something a client cannot reset. DRF's own ``get_ident``
trusts ``X-Forwarded-For`` whenever ``NUM_PROXIES`` is unset, so any client can
send a fresh header per request. ``client_address`` instead counts hops from the
right: with ``VISUAL_SEARCH["TRUSTED_PROXIES"] = N``, the last N hops are our
own proxies and the one before them is the client; with 0 (the default) only
``REMOTE_ADDR`` counts. IPv6 clients are grouped by their /64, which one
subscriber usually holds whole.
"""

from __future__ import annotations

import ipaddress

from rest_framework.throttling import SimpleRateThrottle

from visual_search.conf import vs_settings

__all__ = [
    "ClientAddressMixin",
    "PageAnonThrottle",
    "PageUserThrottle",
    "client_address",
    "page_throttle_wait",
]


#: Cache key of the last request that arrived with fewer X-Forwarded-For hops than ``TRUSTED_PROXIES``.
MISSING_PROXY_HEADER_KEY = "visual_search:missing_proxy_header"


def client_address(request) -> str:
    """The caller's address as a throttle key; never taken from a hop a client could have written."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = int(vs_settings.TRUSTED_PROXIES)
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) < proxies:
            _note_missing_proxy_header(address, len(hops), proxies)
        chain = [*hops, address]
        # Each trusted proxy appended the address it received from; anything further left is hearsay.
        address = chain[max(0, len(chain) - 1 - proxies)]
    return _bucket(address)


def _note_missing_proxy_header(address: str, hops: int, proxies: int) -> None:
    """Remember (in the shared cache, an hour) that a request came without the proxies' header.

    Then clients reach Django without passing the proxies ``TRUSTED_PROXIES``
    counts, and any of them can pick its throttle key by sending the header
    itself; ``check --deploy`` reads this and warns (``visual_search.W008``).
    """
    from django.core.cache import cache  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    try:
        cache.add(MISSING_PROXY_HEADER_KEY, {"remote_addr": address, "hops": hops, "proxies": proxies,
                                             "at": timezone.now().isoformat()}, 3600)
    except Exception:  # noqa: BLE001 - a cache outage must not fail the request it was only watching
        pass


def _bucket(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"  # a Unix socket or a proxy that wrote something odd
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class ClientAddressMixin:
    """For DRF throttles: callers by ``client_address``, not DRF's header-trusting ``get_ident``."""

    def get_ident(self, request) -> str:
        return client_address(request)


class _PageThrottle(ClientAddressMixin, SimpleRateThrottle):
    """Rates come from ``VISUAL_SEARCH["PAGE_THROTTLE_RATES"][rate_name]``; None switches one off."""

    rate_name = ""

    def get_rate(self) -> str | None:
        return (vs_settings.PAGE_THROTTLE_RATES or {}).get(self.rate_name)


class PageAnonThrottle(_PageThrottle):
    """Search-page uploads by anonymous visitors, counted per client address."""

    scope = "visual_search_page_anon"
    rate_name = "anon"

    def get_cache_key(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PageUserThrottle(_PageThrottle):
    """Search-page uploads by logged-in users, counted per user wherever they connect from."""

    scope = "visual_search_page_user"
    rate_name = "user"

    def get_cache_key(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


def page_throttle_wait(request) -> float | None:
    """Count one search-page upload; return seconds to wait if a throttle refuses it, else None."""
    waits = []
    for throttle in (PageAnonThrottle(), PageUserThrottle()):
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1.0)
    return max(waits) if waits else None
