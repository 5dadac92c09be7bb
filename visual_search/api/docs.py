"""The OpenAPI schema and a Swagger UI whose assets the site serves itself (drf-spectacular-sidecar)."""

from __future__ import annotations

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView, _get_sidecar_url
from rest_framework.permissions import AllowAny

SCHEMA_SETTINGS = {
    "TITLE": "Visual search API",
    "DESCRIPTION": (
        "Products that look like a product or a photo, and the catalogue's embedding status. Send the key as "
        "`X-Api-Key: <key>`, `Authorization: Bearer <key>` or `Authorization: Api-Key <key>`; every error, "
        "unknown paths included, is JSON with a stable `code` and a `detail`."
    ),
    "VERSION": "1",
    "PREPROCESSING_HOOKS": ["visual_search.api.schema.only_visual_search"],
    "COMPONENT_SPLIT_REQUEST": True,
}


class VisualSearchSchemaGenerator(SchemaGenerator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.coerce_path_pk = False  # the path says {pk}, as the URL pattern does, whatever the host's DRF settings


class SchemaView(SpectacularAPIView):
    """GET the OpenAPI 3 schema of this app's endpoints (YAML, or JSON with ?format=json)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []
    custom_settings = SCHEMA_SETTINGS
    generator_class = VisualSearchSchemaGenerator


class DocsView(SpectacularSwaggerSplitView):
    """Interactive docs; the script is served separately, so a strict CSP need not allow inline scripts."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []
    title = "Visual search API"
    template_name = "visual_search/api_docs.html"  # no inline <style>: the site's CSP allows none

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return _get_sidecar_url(f"swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return _get_sidecar_url("swagger-ui-dist/favicon-32x32.png")
