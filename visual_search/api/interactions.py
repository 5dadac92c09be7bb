"""``POST /interactions/``: an integrator reports a click, basket add or purchase of a search result."""

from __future__ import annotations

from django.apps import apps
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from visual_search.analytics.interactions import record_click, record_conversion
from visual_search.analytics.tokens import BadToken, read_token
from visual_search.api import errors
from visual_search.api.schema import COMMON_ERRORS, error
from visual_search.api.views import VisualSearchAPIView


class InteractionSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=500, help_text="A result's click_token, as the search returned it.")
    kind = serializers.ChoiceField(
        choices=["click", "basket", "purchase"], default="click",
        help_text="click: the shopper opened the result; basket / purchase: they added it or bought it.",
    )


@extend_schema(
    summary="Report what a shopper did with a result",
    request=InteractionSerializer,
    responses={204: None, **COMMON_ERRORS,
               400: error("Invalid body (invalid) or a token the server did not sign or that expired (bad_token)."),
               404: error("Searches are not logged on this site (not_found).")},
)
class InteractionView(VisualSearchAPIView):
    """Counted once per search, product and kind: sending the same report twice is harmless."""

    operation_id = "report_interaction"

    def post(self, request) -> Response:
        if not apps.is_installed("visual_search.analytics"):
            raise errors.APIError("not_found", "Searches are not logged on this site.", 404)
        body = InteractionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, kind = body.validated_data["token"], body.validated_data["kind"]
        try:
            if kind == "click":
                record_click(token)
            else:
                record_conversion(read_token(token)[1], kind, token=token)
        except BadToken:
            raise errors.APIError("bad_token", "This token was not issued by this site, or has expired.") from None
        return Response(status=204)
