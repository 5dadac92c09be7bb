"""Oscar's category, price and stock filters on the search-by-photo page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import photo_bytes
from tests.contrib.oscar.test_adapter import catalogue  # noqa: F401 - the shared fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("thumbnail_encoder")]


def ranked(response, catalogue) -> set[str]:
    """The products the page ranked (shown as matches or as nearest items)."""
    names = {p.pk: name for name, p in catalogue.items() if name != "children"}
    return {names[item.pk] for item in response.context["page"].items}


def test_the_page_offers_oscars_filters(client):
    html = client.get("/visual-search/").content.decode()
    for name in ("category", "price_min", "price_max", "in_stock"):
        assert f'name="{name}"' in html


def test_more_like_this_narrowed_by_category_and_stock(client, catalogue):
    response = client.get("/visual-search/", {"like": catalogue["c"].pk, "category": "clothing", "in_stock": "on"})
    assert response.status_code == 200
    assert ranked(response, catalogue) == {"a", "parent"}
    assert catalogue["a"].get_absolute_url() in response.content.decode()


def test_search_by_photo_narrowed_by_price(client, catalogue):
    upload = SimpleUploadedFile("query.jpg", photo_bytes("rocket"), content_type="image/jpeg")
    response = client.post("/visual-search/", {"image": upload, "price_min": "25"})
    assert response.status_code == 200
    assert ranked(response, catalogue) == {"b", "c", "parent"}
    assert catalogue["c"].get_absolute_url() in response.content.decode()  # the rocket, a close match
