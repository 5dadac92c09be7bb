"""``GET products/``: the searchable products with their embedding status, for third parties to page through.

Cursor-paginated by primary key, so a page never repeats or skips a product
while the catalogue changes under it. ``?status=`` keeps one embedding status
(as the admin shows it); ``?changed_since=`` keeps the products whose embedding
state changed at or after that time (an embedding row written, or work owed),
so a partner can poll for what became searchable or stopped being so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Max, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from visual_search.adapters import get_adapter
from visual_search.api.schema import COMMON_ERRORS
from visual_search.api.views import VisualSearchAPIView
from visual_search.encoders import get_encoder
from visual_search.indexing.progress import (
    PRODUCT_FAILED,
    PRODUCT_NO_IMAGES,
    PRODUCT_NOT_EMBEDDED,
    PRODUCT_PENDING,
    PRODUCT_READY,
    embedding_statuses,
    filter_by_embedding_status,
)
from visual_search.models import ProductImageEmbedding, SyncRequest

STATUSES = {
    PRODUCT_READY: "every image embedded: the product can be found",
    PRODUCT_PENDING: "work owed or under way",
    PRODUCT_FAILED: "an image could not be embedded",
    PRODUCT_NO_IMAGES: "its last sync found no images",
    PRODUCT_NOT_EMBEDDED: "never synced",
}
MAX_PAGE_SIZE = 200


class ProductCursorPagination(CursorPagination):
    """Pages in primary-key order; ``page_size`` up to 200."""

    ordering = "pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def decode_cursor(self, request):
        # DRF answers a bad cursor with 404, as if the list were missing: it is a bad parameter.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {"cursor": ["Invalid cursor: follow a page's next or previous link."]}
            ) from None


class ListingParamsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=list(STATUSES), required=False)
    changed_since = serializers.DateTimeField(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)


class ProductListingSerializer(serializers.Serializer):
    """A searchable product and where its embeddings stand under the serving encoder."""

    id = serializers.CharField(help_text="The product's primary key.")
    title = serializers.CharField()
    url = serializers.CharField(allow_null=True, help_text="Absolute URL of the product page.")
    image_url = serializers.CharField(allow_null=True, help_text="Absolute URL of a thumbnail.")
    embedding_status = serializers.ChoiceField(
        choices=list(STATUSES), help_text="; ".join(f"{k}: {v}" for k, v in STATUSES.items()) + ".",
    )
    last_embedded_at = serializers.DateTimeField(
        allow_null=True, help_text="When an image of the product was last embedded; null if never."
    )
    changed_at = serializers.DateTimeField(
        allow_null=True, help_text="When its embedding state last changed; null if never synced.",
    )


def changed_since(products: QuerySet, since: datetime, encoder) -> QuerySet:
    """Products with an embedding row of ``encoder`` written, or work requested, at or after ``since``."""
    rows = ProductImageEmbedding.objects.for_encoder(encoder).filter(updated_at__gte=since)
    owed = SyncRequest.objects.filter(requested_at__gte=since)
    return products.filter(Q(pk__in=rows.values("product")) | Q(pk__in=owed.values("product")))


def listing(products: list, request, encoder) -> list[dict[str, Any]]:
    """One page of products as the serializer reads them, in a fixed number of queries."""
    pks = [p.pk for p in products]
    statuses = embedding_statuses(pks, encoder)
    times = {
        row["product"]: row
        for row in ProductImageEmbedding.objects.for_encoder(encoder).filter(product_id__in=pks)
        .order_by().values("product").annotate(embedded=Max("embedded_at"), updated=Max("updated_at"))
    }
    requested = dict(SyncRequest.objects.filter(product_id__in=pks).values_list("product_id", "requested_at"))
    shown = get_adapter().get_display(products)

    def absolute(url):
        return request.build_absolute_uri(url) if url else None

    items = []
    for product in products:
        display = shown.get(product.pk)
        row = times.get(product.pk, {})
        changes = [t for t in (row.get("updated"), requested.get(product.pk)) if t is not None]
        items.append({
            "id": str(product.pk),
            "title": display.title if display else str(product),
            "url": absolute(display.url if display else None),
            "image_url": absolute(display.image_url if display else None),
            "embedding_status": statuses[product.pk],
            "last_embedded_at": row.get("embedded"),
            "changed_at": max(changes) if changes else None,
        })
    return items


@extend_schema(
    summary="Searchable products and their embedding status",
    parameters=[
        OpenApiParameter("status", str, OpenApiParameter.QUERY, enum=list(STATUSES),
                         description="Only products with this embedding status."),
        OpenApiParameter("changed_since", OpenApiTypes.DATETIME, OpenApiParameter.QUERY,
                         description="Only products whose embedding state changed at or after this "
                                     "ISO 8601 time."),
    ],
    responses={200: ProductListingSerializer(many=True), **COMMON_ERRORS},
)
class ProductListView(VisualSearchAPIView, generics.ListAPIView):
    """The products the adapter lists as searchable, with embedding status, cursor-paginated."""

    operation_id = "list_products"
    serializer_class = ProductListingSerializer
    pagination_class = ProductCursorPagination

    def get_queryset(self) -> QuerySet:
        return get_adapter().get_queryset()

    def list(self, request, *args, **kwargs) -> Response:
        params = ListingParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        encoder = get_encoder()
        products = self.get_queryset()
        if status := params.validated_data.get("status"):
            products = filter_by_embedding_status(products, status, encoder)
        if (since := params.validated_data.get("changed_since")) is not None:
            products = changed_since(products, since, encoder)
        page = self.paginate_queryset(products)
        items = ProductListingSerializer(listing(page, request, encoder), many=True)
        return self.get_paginated_response(items.data)
