"""Catalogue models: a category, a product with a main image, and its gallery."""

from __future__ import annotations

from django.db import models
from django.urls import reverse


class Category(models.Model):
    """A group of products shown together in the catalogue navigation."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A product for sale; ``image`` is its main photo."""

    name = models.CharField(max_length=200)
    # Unique so that catalogue imports can find what they created before.
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    in_stock = models.BooleanField(default=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    image = models.ImageField(upload_to="products/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Newest first, with pk as a tie-breaker so pagination is stable.
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["category", "in_stock"], name="shop_product_cat_stock_idx")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("shop:product_detail", args=[self.pk])


class ProductImage(models.Model):
    """An extra photo of a product, shown in its gallery."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="gallery")
    image = models.ImageField(upload_to="products/gallery/")
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.alt_text or f"{self.product} image {self.position}"
