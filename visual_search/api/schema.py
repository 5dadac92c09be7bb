"""OpenAPI 3 for the API (drf-spectacular): the adapter's filters, the key scheme, every error."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from visual_search.adapters import get_adapter
from visual_search.api.authentication import KEY_HEADER
from visual_search.api.serializers import ErrorSerializer

_FILTER_TYPES = {
    "string": OpenApiTypes.STR,
    "integer": OpenApiTypes.INT,
    "decimal": OpenApiTypes.NUMBER,
    "boolean": OpenApiTypes.BOOL,
}


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON_ERRORS = {
    400: error("Invalid parameter (code invalid), unknown filter (unknown_filter), bad filter value "
               "(invalid_filter) or a value no product has (unknown_filter_value, with valid_values)."),
    401: error("No credentials (not_authenticated) or an unknown, revoked or expired key "
               "(invalid_api_key, expired_api_key); the detail names the accepted headers."),
    403: error("Credentials without access (permission_denied)."),
    429: error("Too many requests (throttled); the Retry-After header says when to retry."),
}


class VisualSearchSchema(AutoSchema):
    """Adds the adapter's declared filters as query parameters (on views with ``accepts_filters``)."""

    def get_operation_id(self):
        return getattr(self.view, "operation_id", None) or super().get_operation_id()

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if not getattr(self.view, "accepts_filters", False):
            return params
        for name, spec in get_adapter().get_filters().items():
            params.append(
                OpenApiParameter(
                    name, _FILTER_TYPES[spec.type], OpenApiParameter.QUERY, required=False,
                    description=spec.description or f"Filter on {name}.",
                )
            )
        return params


class APIKeyScheme(OpenApiAuthenticationExtension):
    """Two ways to send the bare key, either enough: what generated clients and Swagger's box send."""

    target_class = "visual_search.api.authentication.APIKeyAuthentication"
    name = ["ApiKey", "Bearer"]

    def get_security_requirement(self, auto_schema):
        return [{"ApiKey": []}, {"Bearer": []}]  # one or the other, not both

    def get_security_definition(self, auto_schema):
        created = "a key created with `manage.py visual_search_apikey create NAME`"
        return [
            {"type": "apiKey", "in": "header", "name": KEY_HEADER,
             "description": f"The bare key in `{KEY_HEADER}`: {created}. "
                            "`Authorization: Api-Key <key>` works too."},
            {"type": "http", "scheme": "bearer",
             "description": f"The bare key as a bearer token (`Authorization: Bearer <key>`): {created}."},
        ]


def only_visual_search(endpoints):
    """Preprocessing hook: the schema describes this app's endpoints, not the whole host site."""
    # Recognised by their schema class, so this module need not import the views (they import it).
    def ours(view_class) -> bool:
        return any(isinstance(k.__dict__.get("schema"), VisualSearchSchema) for k in view_class.__mro__)

    return [e for e in endpoints if ours(getattr(e[3], "cls", object))]
