"""Write ready embedding rows for products with the real encoder, as a worker would."""

from __future__ import annotations

import hashlib

from django.utils import timezone

from visual_search.encoders import get_encoder
from visual_search.images import open_image
from visual_search.models import EmbeddingStatus, ProductImageEmbedding


def embed_products(products) -> None:
    """Embed each product's main image now, bypassing the task queue (not what these tests are about)."""
    encoder = get_encoder()
    blobs = []
    for product in products:
        with product.image.open("rb") as handle:
            blobs.append(handle.read())
    vectors = encoder.embed([open_image(data) for data in blobs])
    for product, data, vector in zip(products, blobs, vectors):
        ProductImageEmbedding.objects.update_or_create(
            product=product, image_key="image", encoder=encoder.id,
            defaults={"encoder_version": encoder.version, "content_hash": hashlib.sha256(data).hexdigest(),
                      "status": EmbeddingStatus.READY, "attempts": 1, "embedding": vector,
                      "embedded_at": timezone.now()},
        )
