"""The embedding admin, its progress page and JSON feed, and the product admin's re-embed action."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from shop.models import Product
from tests.conftest import photo_bytes
from visual_search.indexing import sync_products
from visual_search.models import EmbeddingStatus, ProductImageEmbedding

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:visual_search_productimageembedding_changelist"
PROGRESS = "admin:visual_search_productimageembedding_progress"


@pytest.fixture
def embedded(make_product):
    """One ready product, one failed (truncated JPEG), one never embedded."""
    ready, failed = make_product("chelsea"), make_product(photo_bytes("coffee")[:900])
    sync_products([ready.pk, failed.pk])
    return {"ready": ready, "failed": failed, "never": make_product("rocket")}


def staff_user(*codenames: str) -> User:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_changelist_shows_rows_read_only(admin_client, embedded):
    response = admin_client.get(reverse(CHANGELIST))

    html = response.content.decode()
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 2
    assert "&#9679; Failed" in html and "&#9679; Ready" in html
    # The error column is cut to 80 characters; the row's page has it whole.
    error = ProductImageEmbedding.objects.get(product=embedded["failed"]).error
    assert len(error) > 80 and f"{error[:60]}" in html and f">{error}<" not in html
    assert reverse(PROGRESS) in html  # the object-tools link
    assert "Re-embed the products of the selected rows" in html
    assert "Add product image embedding" not in html


def test_changelist_searches_by_product_pk(admin_client, embedded):
    response = admin_client.get(reverse(CHANGELIST), {"q": str(embedded["failed"].pk)})

    assert [row.product_id for row in response.context["cl"].result_list] == [embedded["failed"].pk]


def test_row_detail_is_view_only(admin_client, embedded):
    row = ProductImageEmbedding.objects.get(product=embedded["ready"])
    url = reverse("admin:visual_search_productimageembedding_change", args=[row.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.post(url, {"status": "failed"}).status_code == 403


def test_progress_page_renders_the_numbers(admin_client, embedded):
    response = admin_client.get(reverse(PROGRESS))

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["progress"].total == 3
    assert response.context["bar"] == {"ready": 33.33, "failed": 33.33}
    assert '<span data-field="percent_ready">33.3</span>% ready' in html
    assert 'data-url="%s?format=json"' % reverse(PROGRESS) in html
    assert "setInterval(refresh, 3000)" in html
    assert '<select name="mode"' in html


def test_progress_json(admin_client, embedded):
    data = admin_client.get(reverse(PROGRESS), {"format": "json"}).json()

    assert (data["total"], data["ready"], data["failed"], data["not_embedded"]) == (3, 1, 1, 1)
    assert data["rows"] == {"ready": 1, "pending": 0, "failed": 1}
    assert data["percent_ready"] == 33.3 and data["hnsw_index_exists"] is True


def test_post_queues_a_catalogue_re_embed(admin_client, embedded):
    response = admin_client.post(reverse(PROGRESS), {"mode": "missing"}, follow=True)

    assert response.redirect_chain == [(reverse(PROGRESS), 302)]
    assert "Queued 1 product for re-embedding in 1 task." in response.content.decode()
    # Eager Celery: the never-embedded product is ready now.
    assert ProductImageEmbedding.objects.get(product=embedded["never"]).status == EmbeddingStatus.READY


def test_post_with_an_unknown_mode_changes_nothing(admin_client, embedded):
    response = admin_client.post(reverse(PROGRESS), {"mode": "everything"}, follow=True)

    assert "Unknown mode" in response.content.decode()
    assert not ProductImageEmbedding.objects.filter(product=embedded["never"]).exists()


def test_post_needs_the_change_permission(client, embedded):
    client.force_login(staff_user("view_productimageembedding"))

    assert client.get(reverse(PROGRESS)).status_code == 200
    assert client.post(reverse(PROGRESS), {"mode": "missing"}).status_code == 403
    assert not ProductImageEmbedding.objects.filter(product=embedded["never"]).exists()


def test_non_staff_users_are_sent_to_the_login_page(client, embedded):
    client.force_login(User.objects.create_user("shopper", password="pw"))

    for url in (reverse(PROGRESS), reverse(PROGRESS) + "?format=json"):
        response = client.get(url)
        assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_row_action_re_embeds_the_products(admin_client, embedded):
    row = ProductImageEmbedding.objects.get(product=embedded["ready"])
    before = row.embedded_at

    response = admin_client.post(
        reverse(CHANGELIST), {"action": "reembed_rows", "_selected_action": [row.pk]}, follow=True
    )

    assert "Queued 1 product for re-embedding in 1 task." in response.content.decode()
    row.refresh_from_db()
    assert row.embedded_at > before  # forced: re-embedded although unchanged


def test_product_action_and_status_column(admin_client, embedded):
    url = reverse("admin:shop_product_changelist")
    html = admin_client.get(url).content.decode()
    assert "Re-embed images of selected products" in html
    assert "&#9679; Not embedded" in html and "&#9679; Failed" in html

    response = admin_client.post(
        url, {"action": "reembed_products", "_selected_action": [embedded["never"].pk]}, follow=True
    )

    assert "Queued 1 product for re-embedding in 1 task." in response.content.decode()
    assert ProductImageEmbedding.objects.get(product=embedded["never"]).status == EmbeddingStatus.READY


def test_product_changelist_filters_by_embedding_status(admin_client, embedded):
    response = admin_client.get(reverse("admin:shop_product_changelist"), {"embedding_status": "none"})

    assert [p.pk for p in response.context["cl"].result_list] == [embedded["never"].pk]
    assert Product.objects.count() == 3


def test_action_reports_tasks_the_broker_refused(admin_client, embedded):
    with mock.patch("visual_search.bulk.enqueue_products", return_value=False):
        response = admin_client.post(
            reverse("admin:shop_product_changelist"),
            {"action": "reembed_products", "_selected_action": [embedded["never"].pk]}, follow=True,
        )

    [message] = list(response.context["messages"])
    assert message.level_tag == "error"
    assert "1 of 1 tasks could not be sent: is the broker running?" in message.message
    assert not ProductImageEmbedding.objects.filter(product=embedded["never"]).exists()
