"""The search page says which formats it takes: every one ALLOWED_IMAGE_FORMATS lets through, no fewer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shop.models import Category, Product
from visual_search.web.views import accepted_formats

pytestmark = pytest.mark.django_db


def test_the_hint_names_every_accepted_format(client):
    page = client.get("/visual-search/").content.decode()
    assert "JPEG, PNG, WebP, GIF, BMP or TIFF, at most 10 MB" in page
    assert "Choose a JPEG, PNG, WebP, GIF, BMP or TIFF image." in page


def test_the_hint_follows_the_setting(client, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ALLOWED_IMAGE_FORMATS": ["JPEG", "WEBP"]}
    assert accepted_formats() == "JPEG or WebP"
    assert "JPEG or WebP, at most" in client.get("/visual-search/").content.decode()


def test_category_options_show_names_and_send_slugs(client):
    category = Category.objects.create(name="Long sleeves", slug="long-sleeves")
    Product.objects.create(name="Blue henley", slug="blue-henley", category=category, price=Decimal("20"))
    page = client.get("/visual-search/").content.decode()
    assert '<option value="long-sleeves">Long sleeves</option>' in page
