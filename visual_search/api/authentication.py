"""``Authorization: Api-Key <key>``: keys the shop issues (djangorestframework-api-key, stored hashed)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser


class APIKeyAuthentication(BaseAuthentication):
    """Authenticates a third party by API key: ``request.auth`` is the ``APIKey``, the user anonymous."""

    keyword = "Api-Key"

    def authenticate(self, request):
        key = KeyParser().get_from_authorization(request)
        if key is None:
            return None  # no key sent: let the next authenticator (the session) try
        try:
            api_key = APIKey.objects.get_from_key(key.strip())
        except APIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.", code="invalid_api_key") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.", code="expired_api_key")
        return AnonymousUser(), api_key

    def authenticate_header(self, request) -> str:
        # Makes a refused anonymous call a 401 (with this challenge) rather than a 403.
        return self.keyword
