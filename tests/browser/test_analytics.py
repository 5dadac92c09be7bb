"""Analytics in Chromium: a shopper's click on a result reaches the log by beacon; the admin's charts draw."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from shop.models import Category, Product
from tests.browser.conftest import log_in
from tests.conftest import photo_bytes
from visual_search.analytics.models import Interaction, SearchEvent
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db(transaction=True)

PHOTO_INPUT = "[data-vs-form] input[name=image]"
#: ImageNet classes an apparel shop's unmatched photos might show, commonest first.
UNSOLD = ["sunglasses", "backpack", "sunglasses", "wallet", "espresso", "sunglasses", "backpack", "umbrella",
          "tabby", "wall clock", "backpack", "laptop"]


@pytest.fixture
def small_catalogue(server, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH,
                              "ENCODER": {"BACKEND": "visual_search.encoders.thumbnail.ThumbnailEncoder"}}
    category = Category.objects.create(name="Things", slug="things")
    products = []
    for name in ("chelsea", "coffee", "astronaut"):
        product = Product(name=name.title(), slug=name, category=category, price=Decimal("12.00"))
        product.image.save(f"{name}.jpg", ContentFile(photo_bytes(name)), save=False)
        product.save()
        products.append(product)
    sync_products([p.pk for p in products])
    return {p.slug: p for p in products}


def test_a_click_on_a_result_is_counted_by_beacon(server, small_catalogue, page, tmp_path):
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(photo_bytes("chelsea"))
    page.goto(f"{server.url}/visual-search/")
    page.set_input_files(PHOTO_INPUT, str(photo))
    first = page.locator(".vs-grid .vs-card__link").first
    first.wait_for()
    assert first.get_attribute("href") == small_catalogue["chelsea"].get_absolute_url()  # the product's own URL
    first.click()
    page.wait_for_url(f"**{small_catalogue['chelsea'].get_absolute_url()}")
    deadline = time.monotonic() + 10
    while not Interaction.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the beacon is sent as the next page loads
    click = Interaction.objects.get()
    assert (click.kind, click.product, click.position) == ("click", str(small_catalogue["chelsea"].pk), 1)
    assert click.event.surface == "page"
    assert page.js_errors == []


def test_the_analytics_page_draws_its_charts(server, page, screenshot):
    now = timezone.now()
    misses = 0
    for day in range(14):
        for i in range(3 + day % 4):
            close = bool((i + day) % 3)
            label = None if close else UNSOLD[misses % len(UNSOLD)]
            misses += not close
            event = SearchEvent.objects.create(
                created_at=now - datetime.timedelta(days=day, minutes=i), surface="page" if i % 2 else "api_image",
                results=[[str(r), 0.8, 0.9] for r in range(12)], close_match=close, k=12,
                decode_ms=4.0 + i, embed_ms=6.0 + day % 3, query_ms=5.0 + i * 2,
                photo_label=label, photo_label_probability=None if close else 0.6,
            )
            if i < 2:
                Interaction.objects.create(event=event, product=str(i), position=1 + (day + i) % 5, kind="click")
    log_in(page, server)
    page.goto(f"{server.url}/admin/visual_search_analytics/searchevent/analytics/")
    charts = page.locator("figure.vs-chart svg")
    assert charts.count() == 4
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box["width"] > 300 and box["height"] > 80
    unsold = page.locator('figure[data-chart="what-shoppers-photographed-that-you-dont-sell"]')
    assert "What shoppers photographed that you don't sell" in unsold.locator("figcaption").inner_text()
    names = unsold.locator("text.vs-chart__name").all_text_contents()
    assert names[0] == "sunglasses" and set(names) == set(UNSOLD)
    svg_box = unsold.locator("svg").bounding_box()
    first_name = unsold.locator("text.vs-chart__name").first.bounding_box()
    assert first_name["x"] >= svg_box["x"] and first_name["height"] > 5  # drawn in full, not cut at the left
    widest = unsold.locator("rect.vs-chart--miss").first
    assert widest.bounding_box()["width"] > 100
    assert widest.evaluate("rect => getComputedStyle(rect).fill") == "rgb(208, 138, 44)"
    bar = page.locator("figure.vs-chart svg rect.vs-chart--match").first
    assert bar.bounding_box()["height"] > 1  # drawn, with the stylesheet's colour
    fill = bar.evaluate("rect => getComputedStyle(rect).fill")
    assert fill == "rgb(46, 125, 91)"
    assert page.locator('[data-total="searches"]').inner_text() == str(SearchEvent.objects.count())
    screenshot(page, "admin-analytics", full_page=True)
    assert page.js_errors == []
