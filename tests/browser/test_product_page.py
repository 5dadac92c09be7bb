"""The product page's "visually similar" carousel in a real browser."""

from __future__ import annotations

import pytest

from shop.models import Product

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def every_similar_product(server, settings):
    """These tests are about the strip itself (arrows, keys, touch): it shows all 12, none held back by
    the floor (tests/web and tests/quality test what the floor leaves out)."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SIMILARITY_FLOOR": -1.0}


def open_product(page, server, category: str = "T-shirts") -> None:
    product = Product.objects.filter(category__name=category).order_by("pk").first()
    page.goto(f"{server.url}{product.get_absolute_url()}")


def scroll_left(page) -> float:
    return page.locator("[data-vs-track]").evaluate("track => track.scrollLeft")


def wait_until_still(page) -> None:
    """Wait for a smooth scroll to finish: the same position twice, a quarter second apart."""
    last = None
    for _ in range(40):
        page.wait_for_timeout(250)
        now = scroll_left(page)
        if now == last:
            return
        last = now
    pytest.fail("The carousel kept scrolling")


def test_carousel_arrows_scroll_it(server, catalogue, page, screenshot):
    open_product(page, server)
    carousel = page.get_by_role("region", name="Visually similar")
    assert carousel.is_visible()
    cards = carousel.locator(".vs-card")
    assert cards.count() == 12
    assert all(p.startswith("$") for p in cards.locator(".vs-card__price").all_inner_texts())
    assert carousel.locator("img[loading=lazy]").count() == 12
    screenshot(page, "product-detail", full_page=True)

    previous = carousel.get_by_role("button", name="Scroll to previous products")
    following = carousel.get_by_role("button", name="Scroll to next products")
    assert following.is_visible() and previous.is_disabled()
    following.click()
    wait_until_still(page)
    assert scroll_left(page) > 0
    assert previous.is_enabled()
    previous.click()
    wait_until_still(page)
    assert scroll_left(page) == 0


def test_carousel_keyboard_and_last_card(server, catalogue, page):
    open_product(page, server)
    track = page.locator("[data-vs-track]")
    track.focus()
    page.keyboard.press("End")
    wait_until_still(page)
    box = track.bounding_box()
    last = page.locator("[data-vs-track] .vs-card").last.bounding_box()
    assert last["x"] >= box["x"] - 1 and last["x"] + last["width"] <= box["x"] + box["width"] + 1  # not cut
    assert page.get_by_role("button", name="Scroll to next products").is_disabled()
    page.keyboard.press("ArrowLeft")
    wait_until_still(page)
    assert 0 < scroll_left(page) < track.evaluate("t => t.scrollWidth - t.clientWidth")
    page.keyboard.press("Home")
    wait_until_still(page)
    assert scroll_left(page) == 0


def test_carousel_on_a_phone_scrolls_by_touch(server, catalogue, browser, screenshot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    open_product(page, server, "Shoes")
    track = page.locator("[data-vs-track]")
    track.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # A swipe is native scrolling of the track; scrolling it as a finger would moves the cards.
    track.evaluate("t => t.scrollBy({left: 300})")
    wait_until_still(page)
    assert scroll_left(page) > 0
    screenshot(page, "product-mobile")
    context.close()
