from __future__ import annotations

from rest_framework import serializers

from visual_search.adapters import get_adapter
from visual_search.conf import vs_settings


class SearchResultSerializer(serializers.Serializer):
    """One ranked product: who it is, where to see it, how close it is."""

    id = serializers.SerializerMethodField()
    title = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    score = serializers.FloatField()
    distance = serializers.FloatField()
    matched_image = serializers.CharField(source="image_key")

    def _absolute(self, url: str | None) -> str | None:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if url and request else url

    def get_id(self, result) -> str:
        return str(result.product.pk)

    def get_title(self, result) -> str:
        return get_adapter().get_title(result.product)

    def get_url(self, result) -> str | None:
        return self._absolute(get_adapter().get_url(result.product))

    def get_image_url(self, result) -> str | None:
        return self._absolute(get_adapter().get_image_url(result.product))


class SearchParamsSerializer(serializers.Serializer):
    """Query parameters shared by both endpoints."""

    k = serializers.IntegerField(required=False, min_value=1)

    def validate_k(self, value: int) -> int:
        limit = int(vs_settings.MAX_RESULTS)
        if value > limit:
            raise serializers.ValidationError(f"k may be at most {limit}.")
        return value


class ImageUploadSerializer(SearchParamsSerializer):
    image = serializers.FileField(help_text="A JPEG, PNG, WebP, GIF, BMP or TIFF photo.")
