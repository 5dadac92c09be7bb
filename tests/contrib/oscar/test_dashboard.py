"""Oscar's dashboard product list shows each product's embedding status and the catalogue's progress."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("thumbnail_encoder")]


def product_list(client) -> str:
    response = client.get(reverse("dashboard:catalogue-product-list"))
    assert response.status_code == 200
    return response.content.decode()


def statuses(html: str) -> dict[str, str]:
    """Product title -> the status badge in its row."""
    rows = re.findall(r'>([^<>]+)</a>\s*<br><span class="vs-status[^"]*" data-vs-embedding-status="(\w+)"', html)
    return dict(rows)


def test_each_product_shows_its_status_and_the_catalogue_its_progress(staff_client, make_product, settings):
    make_product("Embedded cat", photos=("chelsea",))
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    make_product("Waiting cup", photos=("coffee",))

    html = product_list(staff_client)

    assert statuses(html) == {"Embedded cat": "ready", "Waiting cup": "none"}
    assert "Not embedded" in html
    assert "1 of 2 products searchable by photo (50.0%)." in html
    assert "1 not embedded yet." in html
    assert f'href="{reverse("admin:visual_search_bulkjob_changelist")}"' in html
    assert f'href="{reverse("admin:visual_search_productimageembedding_progress")}"' in html
    assert "visual_search_oscar/dashboard.css" in html


def test_a_pages_statuses_are_read_once_not_per_row(staff_client, make_product, monkeypatch):
    from visual_search.contrib.oscar import dashboard  # noqa: PLC0415

    for title in ("First", "Second", "Third", "Fourth"):
        make_product(title, photos=("chelsea",))
    reads: list[list] = []
    original = dashboard.embedding_statuses
    monkeypatch.setattr(dashboard, "embedding_statuses", lambda pks: reads.append(list(pks)) or original(pks))

    html = product_list(staff_client)

    assert statuses(html) == dict.fromkeys(("First", "Second", "Third", "Fourth"), "ready")
    assert len(reads) == 1 and len(reads[0]) == 4


def test_without_the_admins_urls_the_list_still_renders(staff_client, make_product, settings):
    settings.ROOT_URLCONF = "tests.contrib.oscar.urls_without_admin"
    make_product("Embedded cat", photos=("chelsea",))
    html = product_list(staff_client)
    assert statuses(html) == {"Embedded cat": "ready"}
    assert "Bulk re-embed jobs" not in html
