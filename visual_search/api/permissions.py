"""Who may call the API: a valid key or a signed-in session; anonymous callers only when allowed."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework_api_key.models import AbstractAPIKey

from visual_search.api.authentication import ACCEPTED_HEADERS
from visual_search.conf import vs_settings


class HasAPIAccess(BasePermission):
    """An API key, a logged-in user, or anyone when ``VISUAL_SEARCH["API_ALLOW_ANONYMOUS"]`` is true."""

    message = f"Send an API key: {ACCEPTED_HEADERS}."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, AbstractAPIKey):
            return True
        user = getattr(request, "user", None)
        return bool(user and user.is_authenticated) or bool(vs_settings.API_ALLOW_ANONYMOUS)
