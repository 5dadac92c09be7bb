"""Search filters for an Oscar catalogue: category, price and availability.

visual_search applies each declared filter as one ORM lookup on the product.
Oscar's answers span relations and product structures (a parent's price and
stock are its children's), so each filter here selects a set of products and
is applied as ``pk IN (that set)``. Named copies of ``In`` are registered on the
product's primary key (``pk__oscar_price_min`` and so on) so that the filters
have distinct lookups and combine.

The sets follow Oscar's default strategy (``partner.strategy.Default``: stock
required, no tax): a product is within a price bound when one of its stock
records is (a parent: one of its public children's), and is in stock when a
stock record has a net stock level above zero or its product class does not
track stock. A shop with another strategy overrides the adapter's
``products_in_category`` / ``products_priced`` / ``products_in_stock``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.db.models.lookups import In

from visual_search.conf import get_product_model
from visual_search.filters import SearchFilter


class ProductSetIn(In):
    """``pk IN (subquery)`` under a filter's own lookup name."""


@cache
def register_lookup(name: str) -> str:
    """Register ``name`` as an IN lookup on the product model's primary key; return ``pk__<name>``."""
    get_product_model()._meta.pk.register_lookup(ProductSetIn, lookup_name=name)
    return f"pk__{name}"


@dataclass(frozen=True)
class ProductSetFilter(SearchFilter):
    """A filter whose parsed value picks products (``products(value)``), applied as ``pk IN`` them."""

    products: Callable[[Any], QuerySet] | None = None

    def parse(self, name: str, raw: Any) -> QuerySet:
        return self.products(super().parse(name, raw)).order_by().values("pk")


def _oscar_model(app_label: str, name: str):
    from oscar.core.loading import get_model  # noqa: PLC0415 - Oscar's apps must be ready

    return get_model(app_label, name)


def _with_stock_records(records: QuerySet) -> QuerySet:
    """Products owning one of ``records``, or parents of a public child owning one."""
    products = get_product_model()._default_manager
    return products.filter(
        Q(pk__in=records.values("product_id"))
        | Q(pk__in=records.filter(product__is_public=True, product__parent__isnull=False)
                 .values("product__parent_id"))
    )


def category_choices() -> list[tuple[str, str]]:
    """``(slug, name)`` of every category, in tree order: what the category filter takes."""
    categories = _oscar_model("catalogue", "Category")._default_manager.order_by("path")
    seen: dict[str, str] = {}
    for slug, name in categories.values_list("slug", "name"):
        seen.setdefault(slug, name)  # a slug used twice (in two subtrees) selects both: list it once
    return list(seen.items())


def products_in_category(slug: str) -> QuerySet:
    """Products in the categories with this slug or below them (Oscar's category page shows those)."""
    categories = _oscar_model("catalogue", "Category")._default_manager
    paths = categories.filter(slug=slug).values_list("path", flat=True)
    in_tree = Q()
    for path in paths:
        in_tree |= Q(categories__path__startswith=path)
    products = get_product_model()._default_manager
    return products.filter(in_tree) if in_tree else products.none()


def products_priced(lookup: str, value: Any) -> QuerySet:
    """Products with a stock record whose price matches ``price__<lookup>=value``."""
    records = _oscar_model("partner", "StockRecord")._default_manager.filter(**{f"price__{lookup}": value})
    return _with_stock_records(records)


def products_in_stock(in_stock: bool) -> QuerySet:
    """Products Oscar's default strategy sells now (``True``) or does not (``False``)."""
    records = (
        _oscar_model("partner", "StockRecord")._default_manager
        .alias(net=Coalesce("num_in_stock", 0) - Coalesce("num_allocated", 0))
        .filter(
            Q(net__gt=0)
            | Q(product__product_class__track_stock=False)
            | Q(product__parent__product_class__track_stock=False)  # a child's class is its parent's
        )
    )
    available = _with_stock_records(records)
    if in_stock:
        return available
    return get_product_model()._default_manager.exclude(pk__in=available.values("pk"))
