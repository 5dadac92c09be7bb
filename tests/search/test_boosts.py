"""Business boosts: a bounded re-rank that never lifts a result under the floor above a match."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shop.models import Category, Product
from visual_search.search.confidence import Calibrator
from visual_search.search.results import build_result_page
from visual_search.search.service import SearchResult

pytestmark = pytest.mark.django_db

FLOOR = 0.5
CALIBRATOR = Calibrator.fallback(FLOOR)


@pytest.fixture
def products():
    cat = Category.objects.create(name="Hats", slug="hats")

    def make(name, in_stock):
        return Product.objects.create(name=name, slug=name, category=cat, price=Decimal("9"), in_stock=in_stock)

    return {n: make(n, stock) for n, stock in
            [("a_out", False), ("b_in", True), ("c_in", True), ("d_in_under", True), ("e_out", False)]}


def ranked(products, scores, settings, **boosts):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, **boosts}
    results = [SearchResult(products[n], 1.0 - s, "main") for n, s in scores]
    page = build_result_page(results, calibrator=CALIBRATOR)
    return page


def titles(page) -> list[str]:
    return [item.title for item in page.items]


def test_without_boosts_the_search_order_stands(products, settings):
    page = ranked(products, [("a_out", 0.80), ("b_in", 0.78)], settings)
    assert titles(page) == ["a_out", "b_in"]


def test_a_boost_reorders_close_matches(products, settings):
    page = ranked(products, [("a_out", 0.80), ("b_in", 0.78)], settings, BOOSTS={"in_stock": 0.03})
    assert titles(page) == ["b_in", "a_out"]
    confidences = [item.confidence for item in page.items]
    assert confidences == sorted(confidences, reverse=True)  # never rises down the ranking


def test_the_boost_is_bounded_by_max_boost(products, settings):
    page = ranked(products, [("a_out", 0.80), ("c_in", 0.70)], settings, BOOSTS={"in_stock": 1.0}, MAX_BOOST=0.05)
    assert titles(page) == ["a_out", "c_in"]  # 0.70 + at most 0.05 stays under 0.80


def test_a_result_under_the_floor_never_outranks_a_match(products, settings):
    page = ranked(products, [("e_out", 0.51), ("d_in_under", 0.45)], settings,
                  BOOSTS={"in_stock": 1.0}, MAX_BOOST=1.0)
    assert titles(page) == ["e_out", "d_in_under"]
    assert page.close_match and page.items[0].is_match and not page.items[1].is_match
