"""How visual_search reads the shop's products: the main image plus the gallery."""

from __future__ import annotations

from django.db import models

from shop.models import Product, ProductImage
from visual_search.adapters import ProductAdapter, ProductImageRef


class ShopProductAdapter(ProductAdapter):
    """Embeds each product's main image and every gallery image."""

    image_models = ("shop.ProductImage",)

    def get_queryset(self) -> models.QuerySet:
        return Product.objects.select_related("category")

    def get_images(self, product: Product) -> list[ProductImageRef]:
        refs = [ProductImageRef("main", product.image)] if product.image else []
        # Keys use the gallery row's pk so they stay stable when images are reordered.
        refs += [
            ProductImageRef(f"gallery:{image.pk}", image.image)
            for image in product.gallery.all()
            if image.image
        ]
        return refs

    def affects_embeddings(self, update_fields: frozenset[str]) -> bool:
        return "image" in update_fields

    def get_product_pk(self, image: ProductImage) -> int:
        return image.product_id

    def get_image_url(self, product: Product) -> str | None:
        # The main image needs no gallery query, which matters for a carousel of results.
        if product.image:
            return product.image.url
        first = product.gallery.exclude(image="").first()
        return first.image.url if first else None
