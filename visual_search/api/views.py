"""REST endpoints: similar products and search by photo, with their own access policy.

Authentication, permissions and throttles are declared here from
``VISUAL_SEARCH`` (``API_*`` keys), never inherited from the host's
``REST_FRAMEWORK`` defaults; errors are ``{"code", "detail"}`` JSON.
"""

from __future__ import annotations

import time

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.module_loading import import_string
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from visual_search.adapters import get_adapter
from visual_search.analytics.log import record_search
from visual_search.api import errors
from visual_search.api.schema import COMMON_ERRORS, VisualSearchSchema, error
from visual_search.api.serializers import (
    ImageUploadSerializer,
    ResultPageSerializer,
    SimilarParamsSerializer,
    SimilarProductsSerializer,
    TextSearchParamsSerializer,
)
from visual_search.conf import vs_settings
from visual_search.filters import FilterError, parse_filters
from visual_search.images import InvalidImage
from visual_search.search.recommend import recommend
from visual_search.search.results import build_result_page
from visual_search.search.service import search_by_image, similar_products
from visual_search.search.text import (
    TEXT_RANK,
    TextSearchUnavailable,
    search_by_image_and_text,
    search_by_text,
)


def _instances(setting: str) -> list:
    return [import_string(path)() for path in getattr(vs_settings, setting)]


#: The similar endpoint's own parameters (``recommend()``), never filters.
STEERING = ("positive", "negative", "per_category")


def _filters(request) -> dict:
    try:
        return parse_filters(request.query_params, ignore=("k", "format", "min_confidence", "q", *STEERING))
    except FilterError as exc:
        extra = None
        if exc.valid_values is not None:
            extra = {"valid_values": [{"value": value, "name": name} for value, name in exc.valid_values]}
        raise errors.APIError(exc.code, str(exc), extra=extra) from None


def _searchable(pks: list[str]) -> list:
    """The searchable products' pks among ``pks``; any other id is a 400 naming it."""
    if not pks:
        return []
    try:
        found = {str(pk): pk for pk in get_adapter().get_queryset().filter(pk__in=pks).values_list("pk", flat=True)}
    except (ValueError, TypeError, DjangoValidationError):
        found = {}
    missing = [pk for pk in pks if pk not in found]
    if missing:
        raise errors.APIError("unknown_product", f"No searchable product with id {', '.join(missing)}.")
    return [found[pk] for pk in pks]


class VisualSearchAPIView(APIView):
    """Base for the app's endpoints: policy from VISUAL_SEARCH, JSON errors, OpenAPI schema."""

    schema = VisualSearchSchema()
    throttle_settings: tuple[str, ...] = ("API_THROTTLE_CLASSES",)
    #: Whether the view takes the adapter's declared filters as query parameters (documented in the schema).
    accepts_filters = False

    def get_authenticators(self):
        return _instances("API_AUTHENTICATION_CLASSES")

    def get_permissions(self):
        return _instances("API_PERMISSION_CLASSES")

    def get_throttles(self):
        return [t for setting in self.throttle_settings for t in _instances(setting)]

    def get_exception_handler(self):
        return errors.exception_handler


@extend_schema(
    summary="Products that look like this one",
    parameters=[
        OpenApiParameter("pk", str, OpenApiParameter.PATH, description="The product's primary key."),
        SimilarParamsSerializer,  # k with its bounds, min_confidence; positive, negative, per_category
    ],
    responses={
        200: SimilarProductsSerializer,
        **COMMON_ERRORS,
        400: error("Invalid parameter (invalid), filter (unknown_filter, invalid_filter, unknown_filter_value), "
                   "or a positive / negative id that is no searchable product (unknown_product)."),
        404: error("No searchable product with this key (not_found)."),
    },
)
class SimilarProductsView(VisualSearchAPIView):
    """Products that look like one product."""

    operation_id = "similar_products"
    accepts_filters = True

    def get(self, request, pk: str) -> Response:
        params = SimilarParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = _filters(request)
        try:
            # Through the adapter: a product it does not list as searchable does not exist here.
            product = get_adapter().get_queryset().get(pk=pk)
        except (ObjectDoesNotExist, ValueError, TypeError, DjangoValidationError):  # e.g. "abc" for a UUID key
            raise Http404("No such product.") from None
        k, trace = params.validated_data.get("k"), {}
        positive, negative = params.validated_data.get("positive", []), params.validated_data.get("negative", [])
        per_category = params.validated_data.get("per_category")
        if positive or negative or per_category:
            results = recommend([product.pk, *_searchable(positive)], _searchable(negative), k, filters,
                                per_category=per_category, trace=trace)
        else:
            results = similar_products(product, k, filters, trace=trace)
        # By default, what is under the floor is left out; what is shown is what the log keeps.
        page = build_result_page(results).at_least(params.validated_data.get("min_confidence"))
        event = record_search(request, "api_similar", page, k=k, filters=filters, trace=trace, query_product=product.pk)
        context = {"request": request, "product": product, "search_event": event}
        return Response(SimilarProductsSerializer(page, context=context).data)


@extend_schema(
    summary="Products that look like a photo",
    parameters=[
        OpenApiParameter("k", int, OpenApiParameter.QUERY,
                         description="How many results (default 12); a k field in the form body wins."),
    ],
    request={"multipart/form-data": ImageUploadSerializer},
    responses={
        200: ResultPageSerializer,
        **COMMON_ERRORS,
        400: error("Invalid parameter (invalid), filter (unknown_filter, invalid_filter), or an image that is "
                   "empty (empty) or cannot be decoded (corrupt)."),
        408: error("The upload did not arrive within the server's body deadline (body_timeout)."),
        413: error("The upload is larger than MAX_IMAGE_BYTES (too_large)."),
        415: error("Not an image in an accepted format, whatever its name or Content-Type (unsupported_format)."),
        422: error("An image the server will not decode: too many pixels (too_many_pixels), too long and thin "
                   "(extreme_aspect_ratio), or too costly to decode (too_costly_to_decode)."),
        503: error("The server is decoding too many images at once; retry shortly (busy)."),
    },
)
class SearchByImageView(VisualSearchAPIView):
    """Products that look like an uploaded photo."""

    operation_id = "search_by_image"
    accepts_filters = True

    parser_classes = [MultiPartParser, FormParser]
    throttle_settings = ("API_THROTTLE_CLASSES", "API_UPLOAD_THROTTLE_CLASSES")

    def post(self, request) -> Response:
        # Refuse oversized bodies before Django spools them to disk.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # a malformed header; the upload's own size is checked below
        limit = int(vs_settings.MAX_IMAGE_BYTES)
        if length > limit + 64 * 1024:
            raise errors.APIError("too_large", f"Images may be at most {limit} bytes.", 413)
        filters = _filters(request)
        data = request.data.dict()  # last value of each field, the upload included; no deep copy of the file
        if "k" in request.query_params and "k" not in data:
            data["k"] = request.query_params["k"]  # ?k= as on the similar endpoint; the form field wins
        params = ImageUploadSerializer(data=data)
        params.is_valid(raise_exception=True)
        k, trace, words = params.validated_data.get("k"), {}, params.validated_data.get("q", "").strip()
        try:
            if words:
                results = search_by_image_and_text(params.validated_data["image"], words, k, filters, trace=trace)
            else:
                results = search_by_image(params.validated_data["image"], k, filters, trace=trace)
        except TextSearchUnavailable as exc:
            raise errors.APIError("text_search_off", str(exc)) from None
        except InvalidImage as exc:
            # The gate's own status for each refusal: 413, 415, 422, or 503 when decoding is saturated.
            raise errors.APIError(exc.code, str(exc), exc.status, wait=exc.retry_after) from None
        page = build_result_page(results)
        if params.validated_data.get("min_confidence") is not None:
            page = page.at_least(params.validated_data["min_confidence"])
        logged = {**filters, "q": words} if words else filters
        event = record_search(request, "api_image", page, k=k, filters=logged, trace=trace)
        return Response(ResultPageSerializer(page, context={"request": request, "search_event": event}).data)


@extend_schema(
    summary="Products that match words",
    parameters=[TextSearchParamsSerializer],
    responses={
        200: ResultPageSerializer,
        **COMMON_ERRORS,
        400: error("Invalid parameter (invalid), filter (unknown_filter, invalid_filter, unknown_filter_value), "
                   "or no words to search with on this shop (text_search_off)."),
    },
)
class TextSearchView(VisualSearchAPIView):
    """Searchable products matching words: PostgreSQL full-text search over the adapter's ``text_fields``.

    A result's ``score`` and ``confidence`` are its text rank (0-1): there is no photo to be similar to.
    """

    operation_id = "search_by_text"
    accepts_filters = True

    def get(self, request) -> Response:
        params = TextSearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = _filters(request)
        k, words, started = params.validated_data.get("k"), params.validated_data["q"], time.perf_counter()
        try:
            results = search_by_text(words, k, filters)
        except TextSearchUnavailable as exc:
            raise errors.APIError("text_search_off", str(exc)) from None
        except ValueError as exc:
            raise errors.APIError("invalid", str(exc)) from None
        page = build_result_page(results, calibrator=TEXT_RANK)
        if params.validated_data.get("min_confidence") is not None:
            page = page.at_least(params.validated_data["min_confidence"])
        trace = {"encoder": "text", "query_ms": (time.perf_counter() - started) * 1000}
        event = record_search(request, "api_text", page, k=k, filters={**filters, "q": words}, trace=trace)
        return Response(ResultPageSerializer(page, context={"request": request, "search_event": event}).data)
