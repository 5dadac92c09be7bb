from django.contrib import admin
from django.utils.html import format_html

from shop.models import Category, Product, ProductImage
from visual_search.web.admin import STATUS_CSS, EmbeddingStatusFilter, EmbeddingStatusMixin, reembed_products
from visual_search.web.duplicates_admin import DuplicateProductsMixin
from visual_search.web.suggestion_admin import CategorySuggestionMixin, apply_suggested_category


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """Categories, with the slug filled from the name."""

    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


class ProductImageInline(admin.TabularInline):
    """Gallery photos edited on the product page."""

    model = ProductImage
    extra = 1
    fields = ["image", "alt_text", "position"]


@admin.register(Product)
class ProductAdmin(DuplicateProductsMixin, CategorySuggestionMixin, EmbeddingStatusMixin, admin.ModelAdmin):
    """Products with a thumbnail of the main image, their embedding status and their gallery inline."""

    list_display = ["thumbnail", "name", "category", "suggested_category", "price", "in_stock", "embedding_status"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["category", "in_stock", EmbeddingStatusFilter]
    list_select_related = ["category"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ProductImageInline]
    actions = [reembed_products, apply_suggested_category]

    class Media:
        # This Media replaces the mixin's: name its stylesheet (the status badges) too.
        css = {"all": [STATUS_CSS, "shop/admin/products.css"]}

    @admin.display(description="Image")
    def thumbnail(self, obj: Product) -> str:
        if not obj.image:
            return "—"
        return format_html(
            '<img src="{}" alt="" width="48" height="48" class="shop-thumb">',
            obj.image.url,
        )
