"""A catalogue with stored vectors instead of embedded photos: fast, for tests where the encoder is not the point."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from shop.models import Category, Product
from visual_search.encoders import get_encoder
from visual_search.models import EmbeddingStatus, ProductImageEmbedding

THUMBNAIL_ENCODER = {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def store_vectors(products, vectors) -> None:
    """Ready rows of the configured encoder: one ``main`` vector per product."""
    encoder = get_encoder()
    ProductImageEmbedding.objects.bulk_create(
        ProductImageEmbedding(
            product=p, image_key="main", encoder=encoder.id, encoder_version=encoder.version,
            status=EmbeddingStatus.READY, embedding=v,
        )
        for p, v in zip(products, vectors, strict=True)
    )


@pytest.fixture
def thumbnail_encoder(settings):
    """The 256-d thumbnail encoder, with no embedding on save."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": THUMBNAIL_ENCODER, "AUTO_EMBED": False}
    return get_encoder()


@pytest.fixture
def vector_catalogue(thumbnail_encoder, db):
    """``make(n, categories={slug: count}, **fields)``: products with random unit vectors; returns (products, vectors)."""
    rng = np.random.default_rng(3)

    def make(n: int, categories: dict[str, int] | None = None, **fields):
        categories = categories or {"all": n}
        assert sum(categories.values()) == n
        slugs = [slug for slug, count in categories.items() for _ in range(count)]
        cats = {s: Category.objects.get_or_create(slug=s, defaults={"name": s.title()})[0] for s in categories}
        start = Product.objects.count()
        products = Product.objects.bulk_create(
            Product(
                name=f"Item {start + i}", slug=f"item-{start + i}", category=cats[slug],
                price=fields.get("price", Decimal(10 + i % 50)), in_stock=fields.get("in_stock", i % 4 != 0),
            )
            for i, slug in enumerate(slugs)
        )
        vectors = unit(rng.normal(size=(n, thumbnail_encoder.dimensions)))
        store_vectors(products, vectors)
        return products, vectors

    return make


def build_index(encoder) -> None:
    """The encoder's HNSW index, inside the test's transaction (deferred FK checks run first)."""
    from django.db import connection  # noqa: PLC0415

    from visual_search.indexing.vector_index import ensure_hnsw_index  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    ensure_hnsw_index(encoder.id, encoder.dimensions)
