"""The search-by-photo page and the carousel tag through Django's test client (tests/browser run the JS)."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import photo_bytes
from visual_search.indexing.sync import sync_products
from visual_search.web.views import FRAGMENT_HEADER, megabytes

pytestmark = pytest.mark.django_db

INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)


@pytest.fixture
def catalogue(make_product):
    products = {
        "chelsea": make_product("chelsea", name="Tabby cat print"),
        "chelsea-sold-out": make_product("chelsea", name="Sold-out cat print", in_stock=False),
        "coffee": make_product("coffee", name="Espresso cup"),
        "rocket": make_product("rocket", name="Rocket poster"),
    }
    sync_products([p.pk for p in products.values()])
    return products


def upload(name: str = "chelsea", **options) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{name}.jpg", photo_bytes(name, **options), content_type="image/jpeg")


def search(client, photo=None, fragment: bool = False, **data):
    headers = {FRAGMENT_HEADER: "1"} if fragment else {}
    if photo is not None:
        data["image"] = photo
    return client.post(reverse("visual_search:search"), data, headers=headers)


def test_full_page_shows_cards_with_price_and_availability_and_the_photo(client, catalogue):
    response = search(client, upload("chelsea", size=400))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "data-vs-form" in html
    assert "2 similar products" in html
    assert "$10.00" in html and "In stock" in html and "Out of stock" in html
    assert "Near-identical" in html  # a relevance label, never a raw score
    assert 'src="data:image/jpeg;base64,' in html  # the query photo, beside its results
    assert f"?like={catalogue['chelsea'].pk}" in html  # more like this
    assert "Espresso cup" not in html  # not close: left out when something is


def test_fragment_is_only_the_results(client, catalogue):
    response = search(client, upload("chelsea"), fragment=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div class="vs-results__inner" data-vs-results-fragment>')
    assert "<html" not in html and "Tabby cat print" in html


def test_nothing_close_says_so_and_shows_the_nearest_apart(client, make_product):
    products = [make_product(name, name=name.title()) for name in ("coffee", "rocket", "astronaut")]
    sync_products([p.pk for p in products])

    html = search(client, upload("chelsea")).content.decode()

    # A cat at a shop of cups and rockets: its best confidence is low, so the page says the shop lacks it.
    assert 'data-vs-verdict="not_sold"' in html and "We don't seem to sell this" in html
    assert "Nearest items" in html and "similar products</h2>" not in html
    assert html.count('data-vs-confidence="') == 4  # the heading and each card


def test_results_without_a_likely_match_are_the_closest_items_not_a_red_heading(client, make_product, settings):
    products = [make_product(name, name=name.title()) for name in ("coffee", "rocket", "astronaut")]
    sync_products([p.pk for p in products])
    # Every best confidence counts as "not low" here: the page must then be neutral.
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "LOW_CONFIDENCE": 0.0}

    html = search(client, upload("chelsea")).content.decode()

    assert 'data-vs-verdict="closest"' in html and "Closest items we have" in html
    assert "vs-results__heading--none" not in html and "sell this" not in html


def test_filters_come_from_the_adapter_and_narrow_results(client, catalogue):
    page = client.get(reverse("visual_search:search")).content.decode()
    assert '<select name="category"' in page and '<option value="cats">Cats</option>' in page
    assert 'name="price_max"' in page and 'name="in_stock"' in page

    html = search(client, upload("chelsea"), in_stock="on").content.decode()
    assert "Tabby cat print" in html and "Sold-out cat print" not in html

    response = search(client, upload("chelsea"), category="nope")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_more_like_this(client, catalogue):
    url = reverse("visual_search:search")
    html = client.get(url, {"like": catalogue["chelsea"].pk}).content.decode()
    assert "Products that look like Tabby cat print" in html
    assert "Sold-out cat print" in html

    filtered = client.get(url, {"like": catalogue["chelsea"].pk, "in_stock": "on"}).content.decode()
    assert "Sold-out cat print" not in filtered
    assert client.get(url, {"like": "not-a-pk"}).status_code == 404
    assert client.get(url, {"like": 10**9}).status_code == 404


def test_errors_are_in_words(client, catalogue, settings):
    response = search(client)
    assert response.status_code == 400
    assert "Choose a photo first." in response.content.decode()

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_IMAGE_BYTES": 20_000}
    photo = upload("astronaut")
    response = search(client, photo, fragment=True)
    assert response.status_code == 413
    assert f"photos may be at most {megabytes(20_000)}." in response.content.decode()
    assert megabytes(10 * 1024 * 1024) == "10 MB" and megabytes(1_572_864) == "1.5 MB"


def test_pages_carry_no_inline_script_or_style(client, catalogue):
    pages = [
        client.get(reverse("visual_search:search")),
        search(client, upload("chelsea")),
        client.get(catalogue["chelsea"].get_absolute_url()),
        client.get(reverse("shop:product_list")),
    ]
    for response in pages:
        html = response.content.decode()
        assert INLINE_CODE.findall(html) == [], response.request["PATH_INFO"]


def test_carousel_shows_prices_and_lazy_thumbnails_but_no_scores(client, catalogue):
    html = client.get(catalogue["chelsea"].get_absolute_url()).content.decode()
    carousel = html[html.index("data-vs-carousel") :]

    assert 'aria-label="Visually similar"' in html
    assert "Sold-out cat print" in carousel and "$10.00" in carousel
    assert 'loading="lazy"' in carousel
    assert "Scroll to next products" in carousel
    assert not re.search(r"(?<![\d.$])0\.\d\d", carousel)


def test_translated(client, catalogue, settings):
    settings.LANGUAGE_CODE = "de"
    html = client.get(reverse("visual_search:search")).content.decode()
    assert "Suche per Foto" in html and "Ähnliche Produkte finden" in html
    assert "höchstens 10 MB" in html
