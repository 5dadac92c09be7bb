"""How visual_search reads the shop's products: the main image plus the gallery."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models
from django.db.models import prefetch_related_objects

from shop.models import Product, ProductImage
from visual_search.adapters import ProductAdapter, ProductDisplay, ProductImageRef
from visual_search.filters import SearchFilter


class ShopProductAdapter(ProductAdapter):
    """Embeds each product's main image and every gallery image."""

    image_models = ("shop.ProductImage",)

    filters = {
        "category": SearchFilter(
            "category__slug", "string", "Category slug or name, e.g. dresses or Dresses.",
            label="category__name",
        ),
        "price_min": SearchFilter("price__gte", "decimal", "Lowest price, inclusive."),
        "price_max": SearchFilter("price__lte", "decimal", "Highest price, inclusive."),
        "in_stock": SearchFilter("in_stock", "boolean", "true: only products in stock."),
    }
    text_fields = ("name", "description", "category__name")

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

    def get_images_bulk(self, products: Sequence[Product]) -> dict[int, list[ProductImageRef]]:
        # One gallery query for the whole batch instead of one per product.
        prefetch_related_objects(list(products), "gallery")
        return {product.pk: self.get_images(product) for product in products}

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

    def get_price(self, product: Product):
        return product.price

    def is_in_stock(self, product: Product) -> bool:
        return product.in_stock

    def get_display(self, products: Sequence[Product]) -> dict[int, ProductDisplay]:
        # One gallery query for the products without a main image, whatever the page size.
        without_main = [p.pk for p in products if not p.image]
        first_gallery: dict[int, str] = {}
        if without_main:
            for image in ProductImage.objects.filter(product_id__in=without_main).exclude(image=""):
                first_gallery.setdefault(image.product_id, image.image.url)
        return {
            p.pk: ProductDisplay(
                title=self.get_title(p),
                url=self.get_url(p),
                image_url=p.image.url if p.image else first_gallery.get(p.pk),
                price=p.price,
                in_stock=p.in_stock,
            )
            for p in products
        }
