"""REST endpoints: similar products and search by photo."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from visual_search.api.serializers import ImageUploadSerializer, SearchParamsSerializer, SearchResultSerializer
from visual_search.conf import get_product_model, vs_settings
from visual_search.images import InvalidImage
from visual_search.search import search_by_image, similar_products


def _results(request, results) -> list:
    return SearchResultSerializer(results, many=True, context={"request": request}).data


class SimilarProductsView(APIView):
    """GET /products/<pk>/similar/?k=12: products that look like this one."""

    def get(self, request, pk: str) -> Response:
        params = SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        model = get_product_model()
        try:
            product = model._default_manager.get(pk=pk)
        except (model.DoesNotExist, ValueError, TypeError, ValidationError):  # e.g. "abc" for a UUID key
            raise Http404("No such product.") from None
        results = similar_products(product, params.validated_data.get("k"))
        return Response({"product": str(product.pk), "results": _results(request, results)})


class SearchByImageView(APIView):
    """POST an ``image`` file (multipart): products that look like it."""

    parser_classes = [MultiPartParser, FormParser]

    def post(self, request) -> Response:
        # Refuse oversized bodies before Django spools them to disk.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # a malformed header; the upload's own size is checked below
        if length > int(vs_settings.MAX_IMAGE_BYTES) + 64 * 1024:
            return Response(
                {"code": "too_large", "detail": f"Images may be at most {vs_settings.MAX_IMAGE_BYTES} bytes."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        params = ImageUploadSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            results = search_by_image(params.validated_data["image"], params.validated_data.get("k"))
        except InvalidImage as exc:
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if exc.code == "too_large" else status.HTTP_400_BAD_REQUEST
            return Response({"code": exc.code, "detail": str(exc)}, status=code)
        return Response({"results": _results(request, results)})
