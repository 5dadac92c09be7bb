"""API keys the shop issues (djangorestframework-api-key, stored hashed), sent the ways clients send them.

``Authorization: Api-Key <key>``, ``Authorization: Bearer <key>`` (what generated
clients and Swagger's bearer box send) and ``X-Api-Key: <key>`` (an ``apiKey``
scheme's header) are one and the same key.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework_api_key.models import APIKey

#: ``Authorization`` schemes that carry a key, compared without case.
KEY_SCHEMES = ("Api-Key", "Bearer")
#: The header an OpenAPI ``apiKey`` scheme names; the bare key is its value.
KEY_HEADER = "X-Api-Key"
#: Said in every 401 (``api/errors.py``), so a caller sending the wrong header learns the right ones.
ACCEPTED_HEADERS = "Authorization: Api-Key <key>, Authorization: Bearer <key> or X-Api-Key: <key>"


def key_from_request(request) -> str | None:
    """The key a request carries, or None when it sends none of the accepted headers."""
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() in (s.lower() for s in KEY_SCHEMES) and value.strip():
        return value.strip()
    header = request.META.get("HTTP_" + KEY_HEADER.upper().replace("-", "_"), "").strip()
    return header or None


class APIKeyAuthentication(BaseAuthentication):
    """Authenticates a third party by API key: ``request.auth`` is the ``APIKey``, the user anonymous."""

    keyword = "Api-Key"

    def authenticate(self, request):
        key = key_from_request(request)
        if key is None:
            return None  # no key sent: let the next authenticator (the session) try
        try:
            api_key = APIKey.objects.get_from_key(key)
        except APIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed(
                "Unknown or revoked API key.", code="invalid_api_key"
            ) from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.", code="expired_api_key")
        return AnonymousUser(), api_key

    def authenticate_header(self, request) -> str:
        # Makes a refused anonymous call a 401 (with these challenges) rather than a 403.
        return 'Api-Key realm="api", Bearer realm="api"'
