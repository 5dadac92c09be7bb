"""The API's throttles, all in one place so a host can swap them (``API_THROTTLE_CLASSES``).

Each caller is counted on its own: an API key by its id, a signed-in user by
pk, an anonymous caller by address. Rates come from
``VISUAL_SEARCH["API_THROTTLE_RATES"]`` (``anon``, ``user``, ``key``,
``upload``), with per-key overrides by key name in ``API_KEY_THROTTLE_RATES``,
never from the host's ``REST_FRAMEWORK`` settings.
"""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle
from rest_framework_api_key.models import AbstractAPIKey

from visual_search.conf import vs_settings
from visual_search.search.throttling import ClientAddressMixin


class CallerRateThrottle(ClientAddressMixin, SimpleRateThrottle):
    """Requests per caller across the API; anonymous callers by ``client_address`` (trusted proxies only)."""

    scope = "api"

    def __init__(self) -> None:
        # SimpleRateThrottle would read REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] here; the rate
        # depends on the caller, so it is chosen per request in allow_request().
        pass

    def caller(self, request) -> tuple[str, str, str | None]:
        """(kind, identity, key name): kind is ``key``, ``user`` or ``anon``."""
        if isinstance(request.auth, AbstractAPIKey):
            return "key", str(request.auth.pk), request.auth.name
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return "user", str(user.pk), None
        return "anon", self.get_ident(request), None

    def rate_for(self, kind: str, key_name: str | None) -> str | None:
        override = vs_settings.API_KEY_THROTTLE_RATES.get(key_name, {}) if key_name else {}
        if kind in override:
            return override[kind]
        return vs_settings.API_THROTTLE_RATES.get(kind)

    def allow_request(self, request, view) -> bool:
        kind, ident, key_name = self.caller(request)
        self.rate = self.rate_for(kind, key_name)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._cache_key = f"visual_search:throttle:{self.scope}:{kind}:{ident}"
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return self._cache_key


class UploadRateThrottle(CallerRateThrottle):
    """Search-by-photo's own scope: each upload runs the CNN, so it has a rate of its own."""

    scope = "upload"

    def rate_for(self, kind: str, key_name: str | None) -> str | None:
        override = vs_settings.API_KEY_THROTTLE_RATES.get(key_name, {}) if key_name else {}
        return override.get("upload", vs_settings.API_THROTTLE_RATES.get("upload"))
