"""What the API reads and writes; results come from ``visual_search.search.results`` (the one results path)."""

from __future__ import annotations

from rest_framework import serializers

from visual_search.analytics.log import click_token
from visual_search.conf import vs_settings


class ResultSerializer(serializers.Serializer):
    """One ranked product: who it is, where to see it, how close it is."""

    id = serializers.CharField(source="pk", help_text="The product's primary key.")
    title = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="Absolute URL of the product page.")
    image_url = serializers.SerializerMethodField(help_text="Absolute URL of a thumbnail.")
    price = serializers.DecimalField(max_digits=None, decimal_places=None, allow_null=True)
    in_stock = serializers.BooleanField(allow_null=True, help_text="null when the shop does not track stock.")
    score = serializers.FloatField(help_text="Cosine similarity of the best-matching image, 1 = identical.")
    distance = serializers.FloatField(help_text="Cosine distance, 1 - score.")
    confidence = serializers.FloatField(
        help_text="How likely this product is what the photo shows or the same kind of thing, 0-1, calibrated on "
        "this catalogue (visual_search_calibrate); never higher than the result above it.",
    )
    relevance = serializers.ChoiceField(
        choices=["near_identical", "similar", "not_close"],
        help_text="not_close: below the similarity floor, not a match.",
    )
    matched_image = serializers.CharField(help_text="Which of the product's images matched best.")
    click_token = serializers.SerializerMethodField(
        help_text="Send it to POST /clicks/ when a shopper opens this result (null when searches are not logged)."
    )

    def _absolute(self, url: str | None) -> str | None:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if url and request else url

    def get_url(self, item) -> str | None:
        return self._absolute(item.url)

    def get_image_url(self, item) -> str | None:
        return self._absolute(item.image_url)

    def get_click_token(self, item) -> str | None:
        return click_token(self.context.get("search_event"), item)


class ResultPageSerializer(serializers.Serializer):
    """A ranked page of results and whether any is a close match."""

    close_match = serializers.BooleanField(
        help_text="true: the best result is likely what the photo shows, or the same kind of thing (its confidence "
        "is at least 0.5, its score at least similarity_floor). false: the results are only the closest items."
    )
    confidence = serializers.FloatField(help_text="The best result's confidence (0 with no results).")
    verdict = serializers.ChoiceField(
        choices=["match", "closest", "not_sold"],
        help_text="match: close_match; closest: results, none likely a match; not_sold: the best confidence is "
        "low (under LOW_CONFIDENCE), the shop probably does not sell this.",
    )
    calibrated = serializers.BooleanField(
        help_text="false: this catalogue has no calibration yet; confidence follows the encoder's default floor."
    )
    similarity_floor = serializers.FloatField(source="floor", help_text="The score at which confidence reaches 0.5.")
    results = ResultSerializer(source="items", many=True)


class SimilarProductsSerializer(ResultPageSerializer):
    product = serializers.SerializerMethodField(help_text="The product the results look like.")

    def get_product(self, page) -> str:
        return str(self.context["product"].pk)


class SearchParamsSerializer(serializers.Serializer):
    """The number of results; both endpoints take it."""

    k = serializers.IntegerField(required=False, min_value=1, help_text="How many results (default 12).")
    min_confidence = serializers.FloatField(
        required=False, min_value=0.0, max_value=1.0,
        help_text="Leave out results under this confidence (0-1). Similar products leave out those under the "
        "floor unless it is given; search by photo keeps every result unless it is given.",
    )

    def get_fields(self):
        fields = super().get_fields()
        # The schema states the bound (drf-spectacular reads max_value); validate_k enforces it, with its message.
        fields["k"].max_value = int(vs_settings.MAX_RESULTS)
        return fields

    def validate_k(self, value: int) -> int:
        limit = int(vs_settings.MAX_RESULTS)
        if value > limit:
            raise serializers.ValidationError(f"k may be at most {limit}.")
        return value


#: Most product ids ``positive`` or ``negative`` may name.
MAX_STEERING_PRODUCTS = 20


class ProductIdsField(serializers.CharField):
    """Comma-separated product ids, as a list."""

    def to_internal_value(self, data) -> list[str]:
        ids = [part.strip() for part in str(super().to_internal_value(data)).split(",") if part.strip()]
        if len(ids) > MAX_STEERING_PRODUCTS:
            raise serializers.ValidationError(f"At most {MAX_STEERING_PRODUCTS} product ids.")
        return ids


class SimilarParamsSerializer(SearchParamsSerializer):
    """How many results, and how to steer and spread them (the similar endpoint)."""

    positive = ProductIdsField(required=False, help_text="More products to look like, comma-separated ids.")
    negative = ProductIdsField(
        required=False, help_text="Products not to look like, comma-separated ids: results move away from them."
    )
    per_category = serializers.IntegerField(
        required=False, min_value=1, max_value=100, help_text="At most this many results from one category."
    )


class ImageUploadSerializer(SearchParamsSerializer):
    """The photo to search with, as a multipart form upload, and optionally how many results.

    The format is found by decoding the bytes, never from the file name or the Content-Type;
    ``MAX_IMAGE_BYTES`` and ``MAX_IMAGE_PIXELS`` cap what the server will decode.
    """

    # Empty files reach the image gate, which answers "empty" as the search page does.
    image = serializers.FileField(
        allow_empty_file=True,
        help_text="The photo: JPEG, PNG, WebP, GIF, BMP or TIFF (ALLOWED_IMAGE_FORMATS).",
    )
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200,
        help_text="Optional words (\"red\"): results that look like the photo and match them are fused by rank.",
    )


class TextSearchParamsSerializer(SearchParamsSerializer):
    """Words to search for, and how many results."""

    q = serializers.CharField(max_length=200, help_text="The words, in the shop's language (web search syntax).")


class FilterValueSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="What the filter takes, e.g. a category slug.")
    name = serializers.CharField(help_text="How people call it, e.g. the category's name (also accepted).")


class ErrorSerializer(serializers.Serializer):
    """Every error: a stable code and words for people."""

    code = serializers.CharField(help_text="Stable, e.g. not_authenticated, unknown_filter, corrupt, throttled.")
    detail = serializers.CharField()
    errors = serializers.DictField(required=False, help_text="Per-field messages (code invalid only).")
    valid_values = FilterValueSerializer(
        many=True, required=False, help_text="The values the filter takes (code unknown_filter_value only)."
    )
