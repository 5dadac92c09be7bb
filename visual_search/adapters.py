"""Adapters tell visual_search how to read a host's product model.

The app never hard-codes a host's field names: an adapter class, named by
``VISUAL_SEARCH["ADAPTER"]``, says which images a product has, which products
are searchable, and which related models hold images (a gallery, say).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models

from visual_search.conf import get_product_model, vs_settings
from visual_search.filters import SearchFilter


@dataclass(frozen=True)
class ProductImageRef:
    """One image of a product: a key stable for that product, and its file."""

    key: str
    file: Any  # a FieldFile, django.core.files.File or anything with open()/read()

    def read(self, limit: int | None = None) -> bytes:
        """Return the image's bytes (at most ``limit``), opening and closing the file."""
        file = self.file
        if isinstance(file, (bytes, bytearray)):
            return bytes(file[:limit] if limit is not None else file)
        size = -1 if limit is None else limit
        if hasattr(file, "open"):
            file.open("rb")
            try:
                return file.read(size)
            finally:
                file.close()
        return file.read(size)


@dataclass(frozen=True)
class ProductDisplay:
    """What a result shows of a product: read once per page through ``get_display()``."""

    title: str
    url: str | None = None
    image_url: str | None = None  # a thumbnail, not necessarily the original
    price: Decimal | None = None
    in_stock: bool | None = None  # None: the shop does not track stock


class ProductAdapter:
    """Base adapter: subclass it and name your class in ``VISUAL_SEARCH["ADAPTER"]``."""

    #: Models whose instances are images of a product; saving or deleting one
    #: re-syncs its product. Give ``"app_label.ModelName"`` strings or classes.
    image_models: tuple[Any, ...] = ()

    #: The filters searches accept: public name -> ``visual_search.filters.SearchFilter``
    #: (a validated ORM lookup on the product). Nothing else reaches the ORM from a request.
    filters: dict[str, SearchFilter] = {}

    #: What words are searched in (``search/text.py``): ORM paths of text on the product, e.g.
    #: ``("name", "description", "category__name")``. Empty: searching with words is off.
    text_fields: tuple[str, ...] = ()
    #: PostgreSQL's text search configuration for them: the shop's language (``"english"``, ``"german"``...).
    text_search_config: str = "english"

    def get_queryset(self) -> models.QuerySet:
        """Products eligible for search (also what bulk re-embedding walks)."""
        return get_product_model()._default_manager.all()

    def is_searchable(self, product: models.Model) -> bool:
        """Whether ``product`` should have embeddings at all."""
        return True

    def get_images(self, product: models.Model) -> list[ProductImageRef]:
        """The images to embed for ``product``; keys must be unique per product."""
        raise NotImplementedError

    def get_images_bulk(self, products: Sequence[models.Model]) -> dict[Any, list[ProductImageRef]]:
        """The images of a batch of products, keyed by pk: the hook sync reads through.

        The default calls ``get_images`` per product; override it (or prefetch here)
        when that queries the database, so a batch costs a fixed number of queries.
        """
        return {product.pk: self.get_images(product) for product in products}

    def get_product_pk(self, image: models.Model) -> Any:
        """The product primary key an instance of one of ``image_models`` belongs to."""
        raise NotImplementedError(
            f"{type(self).__name__} lists image_models but does not implement get_product_pk()."
        )

    def affects_embeddings(self, update_fields: frozenset[str]) -> bool:
        """Whether a ``save(update_fields=...)`` touching these fields can change embeddings.

        The default says yes, to be safe; override it so that, say, a stock update
        does not make a worker re-read every image of the product.
        """
        return True

    def get_title(self, product: models.Model) -> str:
        """How a result is named in the HTML views and the API."""
        return str(product)

    def get_url(self, product: models.Model) -> str | None:
        """The product page a result links to."""
        return product.get_absolute_url() if hasattr(product, "get_absolute_url") else None

    def get_image_url(self, product: models.Model) -> str | None:
        """A thumbnail for a result: the URL of the product's first image, if it has one."""
        for ref in self.get_images(product):
            url = getattr(ref.file, "url", None)
            if url:
                return url
        return None

    def get_thumbnail_url(self, product: models.Model) -> str | None:
        """A small image for result cards; override to use a thumbnailer. Defaults to ``get_image_url``."""
        return self.get_image_url(product)

    def get_price(self, product: models.Model) -> Decimal | None:
        """The price shown on a result, or None."""
        return None

    def is_in_stock(self, product: models.Model) -> bool | None:
        """Availability shown on a result; None when the shop does not track it."""
        return None

    def get_display(self, products: Sequence[models.Model]) -> dict[Any, ProductDisplay]:
        """What results show of ``products``, keyed by pk: the bulk hook behind every results page.

        The default calls the per-product methods above. Override it when they
        query the database, so a page costs a fixed number of queries (prefetch
        here, once for all products).
        """
        return {
            p.pk: ProductDisplay(
                title=self.get_title(p),
                url=self.get_url(p),
                image_url=self.get_thumbnail_url(p),
                price=self.get_price(p),
                in_stock=self.is_in_stock(p),
            )
            for p in products
        }

    def get_signals(
        self, products: Sequence[models.Model], displays: dict[Any, ProductDisplay]
    ) -> dict[Any, dict[str, float]]:
        """Business signals per product, each in [0, 1], for ``VISUAL_SEARCH["BOOSTS"]`` (keyed by pk).

        The default gives ``in_stock`` (1 or 0) where the display knows it; override it to add
        popularity, margin or recency from your own data (one query for all ``products``).
        """
        return {pk: {"in_stock": 1.0 if shown.in_stock else 0.0}
                for pk, shown in displays.items() if shown.in_stock is not None}

    def get_filters(self) -> dict[str, SearchFilter]:
        """The declared filters, by public name."""
        return dict(self.filters)

    def get_image_models(self) -> list[type[models.Model]]:
        """Resolve ``image_models`` to model classes."""
        from django.apps import apps  # noqa: PLC0415

        return [apps.get_model(m) if isinstance(m, str) else m for m in self.image_models]


class ImageFieldAdapter(ProductAdapter):
    """Embeds the single ImageField named by ``VISUAL_SEARCH["IMAGE_FIELD"]``."""

    def affects_embeddings(self, update_fields: frozenset[str]) -> bool:
        return vs_settings.IMAGE_FIELD in update_fields

    def get_images(self, product: models.Model) -> list[ProductImageRef]:
        field_name = vs_settings.IMAGE_FIELD
        file = getattr(product, field_name)
        return [ProductImageRef(field_name, file)] if file else []


def get_adapter() -> ProductAdapter:
    """Return an instance of the configured adapter class."""
    return vs_settings.ADAPTER()

