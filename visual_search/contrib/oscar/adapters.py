"""How visual_search reads django-oscar's catalogue.

Set ``VISUAL_SEARCH["ADAPTER"] = "visual_search.contrib.oscar.adapters.OscarProductAdapter"``
and ``VISUAL_SEARCH_PRODUCT_MODEL = "catalogue.Product"``.

Parent and child products: results are what Oscar's catalogue browses, the
public standalone and parent products (``Product.objects.browsable()``). A
child (a size or colour variant) is never a result of its own; its images are
embedded under its parent, beside the parent's own images, as long as the child
is public. So a photo of the red variant finds the T-shirt, and the result
links to the page where the shopper picks the variant.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from visual_search.adapters import ProductAdapter, ProductImageRef
from visual_search.conf import get_product_model
from visual_search.contrib.oscar import filters
from visual_search.contrib.oscar.filters import ProductSetFilter, register_lookup

logger = logging.getLogger(__name__)


def _image_model():
    from oscar.core.loading import get_model  # noqa: PLC0415 - Oscar's apps must be ready

    return get_model("catalogue", "ProductImage")


class OscarProductAdapter(ProductAdapter):
    """Embeds every ``ProductImage.original`` of a browsable product and of its public children."""

    image_models = ("catalogue.ProductImage",)

    #: Geometry and options handed to Oscar's thumbnailer (``OSCAR_THUMBNAILER``) for result cards.
    thumbnail_size = "300x300"
    thumbnail_options: dict[str, Any] = {"upscale": False}

    def get_queryset(self) -> QuerySet:
        """Public standalone and parent products with at least one image of their own or of a public child."""
        images = _image_model()._default_manager
        own = images.filter(product=OuterRef("pk"))
        childrens = images.filter(product__parent=OuterRef("pk"), product__is_public=True)
        return (
            get_product_model()._default_manager.browsable()
            .filter(Exists(own) | Exists(childrens))
            .select_related("product_class")
        )

    def is_searchable(self, product: Any) -> bool:
        return product.is_public and not product.is_child

    def _images(self, product: Any) -> list:
        images = list(product.images.all())  # Oscar orders them by display_order
        if product.is_parent:
            images += list(
                _image_model()._default_manager
                .filter(product__parent=product, product__is_public=True)
                .order_by("product_id", "display_order", "pk")
            )
        return [image for image in images if image.original]

    def get_images(self, product: Any) -> list[ProductImageRef]:
        # Keyed by the image row's pk: stable when images are reordered or re-captioned.
        return [ProductImageRef(f"image:{image.pk}", image.original) for image in self._images(product)]

    def get_product_pk(self, image: Any) -> Any:
        # A child's image belongs to the parent's embeddings.
        parent_pk = (
            get_product_model()._default_manager.filter(pk=image.product_id)
            .values_list("parent_id", flat=True).first()
        )
        return parent_pk or image.product_id

    def affects_embeddings(self, update_fields: frozenset[str]) -> bool:
        # Images live in ProductImage; only these product fields change what is embedded.
        return bool(update_fields & {"is_public", "parent", "structure"})

    def get_title(self, product: Any) -> str:
        return product.get_title()

    def get_url(self, product: Any) -> str | None:
        return product.get_absolute_url()

    def _first_image(self, product: Any) -> Any:
        # Through images.all() and get_public_children(), so get_display()'s prefetches are used.
        candidates = [product.images.all()]
        if product.is_parent:
            candidates += [child.images.all() for child in product.get_public_children()]
        for images in candidates:
            for image in images:
                if image.original:
                    return image
        return None

    def get_image_url(self, product: Any) -> str | None:
        # Every result surface shows the thumbnail: a carousel of full-size originals is megabytes.
        return self.get_thumbnail_url(product)

    def get_thumbnail_url(self, product: Any) -> str | None:
        """The first image (or first public child's) through Oscar's thumbnailer (``OSCAR_THUMBNAILER``)."""
        image = self._first_image(product)
        if image is None:
            return None
        from oscar.core.thumbnails import get_thumbnailer  # noqa: PLC0415

        try:
            thumbnail = get_thumbnailer().generate_thumbnail(
                image.original, size=self.thumbnail_size, **self.thumbnail_options
            )
        except Exception:  # noqa: BLE001 - a missing file or a thumbnailer error must not break a page
            logger.warning("No thumbnail for product %s", product.pk, exc_info=True)
            return None
        return getattr(thumbnail, "url", None)

    def get_strategy(self) -> Any:
        """Oscar's pricing and availability strategy for result cards (no request: the default one)."""
        from oscar.core.loading import get_class  # noqa: PLC0415

        return get_class("partner.strategy", "Selector")().strategy()

    @cached_property
    def strategy(self) -> Any:
        # One per adapter instance, and get_adapter() makes one per use.
        return self.get_strategy()

    def _purchase_info(self, product: Any) -> Any:
        if product.is_parent:
            return self.strategy.fetch_for_parent(product)
        return self.strategy.fetch_for_product(product)

    def get_price(self, product: Any) -> Decimal | None:
        """The price Oscar's strategy shows: tax-inclusive when tax is known, else excluding tax."""
        price = self._purchase_info(product).price
        if not price.exists:
            return None
        return price.incl_tax if price.is_tax_known else price.excl_tax

    def is_in_stock(self, product: Any) -> bool | None:
        """Whether Oscar's strategy lets a shopper buy it now."""
        return self._purchase_info(product).availability.is_available_to_buy

    def get_filters(self) -> dict[str, ProductSetFilter]:
        """``category`` (a slug, with its subcategories), ``price_min``, ``price_max`` and ``in_stock``."""
        return {
            "category": ProductSetFilter(
                register_lookup("oscar_category"), "string",
                "Category slug or name; its subcategories match too.",
                products=self.products_in_category, choices=self.category_choices,
            ),
            "price_min": ProductSetFilter(
                register_lookup("oscar_price_min"), "decimal", "Lowest price.",
                products=lambda value: self.products_priced("gte", value),
            ),
            "price_max": ProductSetFilter(
                register_lookup("oscar_price_max"), "decimal", "Highest price.",
                products=lambda value: self.products_priced("lte", value),
            ),
            "in_stock": ProductSetFilter(
                register_lookup("oscar_in_stock"), "boolean",
                "Only products that can (true) or cannot (false) be bought now.",
                products=self.products_in_stock,
            ),
        }

    # The product sets behind the filters; override them when your strategy differs from Oscar's default.

    def products_in_category(self, slug: str) -> QuerySet:
        return filters.products_in_category(slug)

    def category_choices(self) -> list[tuple[str, str]]:
        return filters.category_choices()

    def products_priced(self, lookup: str, value: Decimal) -> QuerySet:
        return filters.products_priced(lookup, value)

    def products_in_stock(self, in_stock: bool) -> QuerySet:
        return filters.products_in_stock(in_stock)

    def get_display(self, products: Sequence[Any]) -> dict:
        """Prefetch what cards need (stock records, images, public children), then read it per product.

        Standalone products cost no query each; a parent costs none either, its
        children being prefetched with their stock records and images.
        """
        model = get_product_model()
        public_children = model._default_manager.public().prefetch_related("stockrecords", "images")
        prefetched = (
            model._default_manager.filter(pk__in=[p.pk for p in products])
            .select_related("product_class", "parent")
            .prefetch_related("stockrecords", "images")
            .prefetch_public_children(queryset=public_children)
            .in_bulk()
        )
        return super().get_display([prefetched.get(p.pk, p) for p in products])
