"""One row per search shown to somebody, and one per click, basket add or purchase that followed."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Surface(models.TextChoices):
    PAGE = "page", _("Search page, by photo")
    PAGE_LIKE = "page_like", _("Search page, more like this")
    API_IMAGE = "api_image", _("API, search by image")
    API_SIMILAR = "api_similar", _("API, similar products")
    API_TEXT = "api_text", _("API, words")
    CAROUSEL = "carousel", _("Carousel on a product page")


class InteractionKind(models.TextChoices):
    CLICK = "click", _("Click")
    BASKET = "basket", _("Added to basket")
    PURCHASE = "purchase", _("Purchased")


class SearchEvent(models.Model):
    """A search and the results it showed; never the photo itself unless query photos are kept."""

    # A random id: click tokens name it, and ids in order would tell how busy the shop is.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    surface = models.CharField(_("surface"), max_length=20, choices=Surface.choices)
    # "key:<name>", "user:<pk>" or "anon:<keyed hash of the address>": never an address or a name in clear.
    caller = models.CharField(_("caller"), max_length=80, blank=True)
    encoder = models.CharField(_("encoder"), max_length=100, blank=True)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    k = models.PositiveSmallIntegerField(_("results asked for"), default=0)
    query_product = models.CharField(_("query product"), max_length=64, blank=True)
    # [[product pk as text, score, confidence or null], ...], best first.
    results = models.JSONField(_("results"), default=list, blank=True)
    close_match = models.BooleanField(_("close match"), default=False)
    decode_ms = models.FloatField(_("decode (ms)"), null=True, blank=True)
    embed_ms = models.FloatField(_("embed (ms)"), null=True, blank=True)
    query_ms = models.FloatField(_("query (ms)"), null=True, blank=True)
    # 64-bit difference hash of the query photo: tells repeats apart, cannot be turned back into a photo.
    photo_hash = models.CharField(_("photo hash"), max_length=16, blank=True)
    # Storage name of the kept query photo, only while QUERY_PHOTO_RETENTION_DAYS keeps it.
    photo = models.CharField(_("kept photo"), max_length=255, blank=True)
    # What a photo with no close match shows, as the encoder's ImageNet classifier names it (its top class and
    # that class's probability); NULL for every other search, and with encoders that name nothing.
    photo_label = models.CharField(_("photographed (ImageNet class)"), max_length=64, null=True, blank=True)
    photo_label_probability = models.FloatField(_("class probability"), null=True, blank=True)

    class Meta:
        verbose_name = _("search")
        verbose_name_plural = _("searches")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["surface", "created_at"], name="vs_analytics_surface_time")]

    def __str__(self) -> str:
        return f"{self.get_surface_display()} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def total_ms(self) -> float | None:
        parts = [t for t in (self.decode_ms, self.embed_ms, self.query_ms) if t is not None]
        return sum(parts) if parts else None


class Interaction(models.Model):
    """A shopper acting on a result: a click on it, or the product added to a basket or bought."""

    event = models.ForeignKey(SearchEvent, on_delete=models.CASCADE, related_name="interactions")
    product = models.CharField(_("product"), max_length=64)  # text: a host's pk may be an int or a UUID
    position = models.PositiveSmallIntegerField(_("rank"), null=True, blank=True)  # 1 = the first result
    kind = models.CharField(_("kind"), max_length=10, choices=InteractionKind.choices)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("interaction")
        ordering = ["-created_at"]
        constraints = [
            # A reloaded page or a double click counts once.
            models.UniqueConstraint(fields=["event", "product", "kind"], name="vs_analytics_once_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.product} (rank {self.position})"
