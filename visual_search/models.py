"""The app's one table: an embedding per product image and encoder."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField

from visual_search.conf import get_product_model_label


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class ProductImageEmbeddingQuerySet(models.QuerySet):
    def for_encoder(self, encoder) -> "ProductImageEmbeddingQuerySet":
        """Rows written by ``encoder`` (an Encoder or its id)."""
        return self.filter(encoder=getattr(encoder, "id", encoder))

    def ready(self) -> "ProductImageEmbeddingQuerySet":
        return self.filter(status=EmbeddingStatus.READY)

    def failed(self) -> "ProductImageEmbeddingQuerySet":
        return self.filter(status=EmbeddingStatus.FAILED)


class ProductImageEmbedding(models.Model):
    """The vector of one product image under one encoder.

    ``embedding`` is an untyped ``vector`` column so several encoders (of any
    dimension) can live side by side; each encoder gets its own partial HNSW
    expression index (see ``vector_index.py``).
    """

    product = models.ForeignKey(
        get_product_model_label(),
        on_delete=models.CASCADE,
        related_name="visual_embeddings",
        db_index=False,  # the unique (product, image_key, encoder) constraint leads with product
        verbose_name=_("product"),
    )
    image_key = models.CharField(_("image key"), max_length=255)
    encoder = models.CharField(_("encoder"), max_length=100)
    encoder_version = models.CharField(_("encoder version"), max_length=50)
    content_hash = models.CharField(_("SHA-256 of the image bytes"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING
    )
    error = models.TextField(_("failure reason"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    embedding = VectorField(_("embedding"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    embedded_at = models.DateTimeField(_("embedded"), null=True, blank=True)

    objects = ProductImageEmbeddingQuerySet.as_manager()

    class Meta:
        verbose_name = _("product image embedding")
        verbose_name_plural = _("product image embeddings")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "image_key", "encoder"], name="visual_search_one_row_per_image"
            ),
        ]
        indexes = [models.Index(fields=["encoder", "status"], name="visual_search_enc_status")]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.image_key} [{self.encoder}] {self.status}"
