"""``GET products/<pk>/category-suggestion/``: the category the nearest products vote for."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from visual_search.adapters import get_adapter
from visual_search.api.schema import COMMON_ERRORS, error
from visual_search.api.views import VisualSearchAPIView
from visual_search.quality.suggest import suggest_category

MAX_NEIGHBOURS = 50


def _category(value) -> dict | None:
    if value is None:
        return None
    return {"id": str(getattr(value, "pk", value)), "name": str(value)}


class SuggestedCategorySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The category's primary key (or value).")
    name = serializers.CharField()


class CategoryVoteSerializer(SuggestedCategorySerializer):
    share = serializers.FloatField(help_text="This category's share of the similarity-weighted vote, 0 to 1.")


class CategorySuggestionSerializer(serializers.Serializer):
    """The category the nearest products vote for, and how they voted."""

    product = serializers.CharField(help_text="The product's primary key.")
    category = SuggestedCategorySerializer(allow_null=True, help_text="The winner; null if no neighbour votes.")
    confidence = serializers.FloatField(help_text="The winner's share of the similarity-weighted vote.")
    votes = CategoryVoteSerializer(many=True, help_text="Each category that got a vote, largest share first.")
    neighbours = serializers.IntegerField(help_text="How many neighbours voted.")


class NeighboursSerializer(serializers.Serializer):
    k = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_NEIGHBOURS, help_text="Neighbours that vote (default 10)."
    )


@extend_schema(
    summary="Suggest a category from the most similar products",
    parameters=[
        OpenApiParameter("pk", str, OpenApiParameter.PATH, description="The product's primary key."),
        NeighboursSerializer,  # k, with its bounds
    ],
    responses={
        200: CategorySuggestionSerializer,
        **COMMON_ERRORS,
        404: error("No searchable product with this key (not_found)."),
    },
)
class CategorySuggestionView(VisualSearchAPIView):
    """The category a product's nearest neighbours vote for, with its confidence."""

    operation_id = "category_suggestion"

    def get(self, request, pk: str) -> Response:
        params = NeighboursSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            product = get_adapter().get_queryset().get(pk=pk)
        except (ObjectDoesNotExist, ValueError, TypeError, DjangoValidationError):
            raise Http404("No such product.") from None
        suggestion = suggest_category(product, params.validated_data.get("k"))
        votes = sorted(suggestion.votes.items(), key=lambda item: -item[1])
        return Response({
            "product": str(product.pk),
            "category": _category(suggestion.category),
            "confidence": round(suggestion.confidence, 4),
            "votes": [{**_category(category), "share": round(share, 4)} for category, share in votes],
            "neighbours": suggestion.neighbours,
        })
