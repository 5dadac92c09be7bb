"""Any other path under the API answers a JSON 404 in the API's error shape, never the site's HTML page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound

from visual_search.api.views import VisualSearchAPIView


def _with_slash(path: str) -> str | None:
    """``path`` + "/" when that is an endpoint: a client that dropped the slash is told so."""
    if path.endswith("/"):
        return None
    try:
        match = resolve(path + "/")
    except Resolver404:
        return None
    return None if getattr(match.func, "view_class", None) is NotFoundView else path + "/"


@extend_schema(exclude=True)
class NotFoundView(VisualSearchAPIView):
    """The last URL pattern of ``visual_search.api.urls``: no key needed to learn a path does not exist."""

    def get_authenticators(self):
        return []

    def get_permissions(self):
        return []

    def get_throttles(self):
        return []

    def not_found(self, request, *args, **kwargs):
        suggestion = _with_slash(request.path)
        if suggestion and request.method in ("GET", "HEAD") and settings.APPEND_SLASH:
            # What CommonMiddleware did before this pattern caught the path; a POST's body would be lost.
            query = request.META.get("QUERY_STRING")
            return HttpResponsePermanentRedirect(suggestion + (f"?{query}" if query else ""))
        hint = f" Did you mean {suggestion}?" if suggestion else " See the schema for the endpoints."
        raise NotFound(f"No API endpoint at {request.path}.{hint}")

    get = post = put = patch = delete = head = options = not_found
