"""Catalogue pages: the product grid (optionally one category) and a product page."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static

from shop.models import Category, Product

PRODUCTS_PER_PAGE = 24


def product_list(request: HttpRequest) -> HttpResponse:
    """A paginated grid of products, filtered by ``?category=<slug>`` when given."""
    products = Product.objects.select_related("category")
    category = None
    if slug := request.GET.get("category"):
        category = get_object_or_404(Category, slug=slug)
        products = products.filter(category=category)
    page = Paginator(products, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "shop/product_list.html",
        {
            "categories": Category.objects.all(),
            "current_category": category,
            "page_obj": page,
            "products": page.object_list,
        },
    )


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One product: main image, gallery, price and description."""
    product = get_object_or_404(Product.objects.select_related("category").prefetch_related("gallery"), pk=pk)
    return render(request, "shop/product_detail.html", {"product": product})


def favicon(request: HttpRequest) -> HttpResponse:
    """The shop's icon, for browsers that ask for /favicon.ico (the static URL is resolved per request)."""
    return HttpResponseRedirect(static("shop/favicon.svg"))
