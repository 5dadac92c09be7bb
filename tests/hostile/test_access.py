"""Who may do what: admin pages and bulk actions for anonymous, shopper, staff without and with the right.

Side effects are checked, not only status codes: a refused re-embed records no work owed.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from shop.models import Category, Product
from visual_search.models import BulkJob, ProductImageEmbedding, SyncRequest

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
_serial = itertools.count()


@pytest.fixture
def products(settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    category = Category.objects.create(name="Shoes", slug="shoes")
    made = [
        Product.objects.create(name=f"Shoe {i}", slug=f"shoe-{i}", price=Decimal("9.99"), category=category)
        for i in range(2)
    ]
    for product in made:
        ProductImageEmbedding.objects.create(
            product=product,
            image_key="image",
            encoder="efficientnet-lite0",
            encoder_version="1",
            status="failed",
        )
    return made


def actor(kind: str, *codenames: str) -> Client:
    client = Client()
    if kind == "anonymous":
        return client
    user = User.objects.create_user(f"{kind}-{next(_serial)}", password="pw", is_staff=kind == "staff")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


ACTORS = [("anonymous", ()), ("shopper", ()), ("staff", ())]

PAGES = [
    # (url name, permission that opens it)
    ("admin:visual_search_productimageembedding_progress", "view_productimageembedding"),
    ("admin:visual_search_productimageembedding_changelist", "view_productimageembedding"),
    ("admin:visual_search_bulkjob_changelist", "view_bulkjob"),
    ("admin:visual_search_bulkjob_status", "view_bulkjob"),
    ("admin:shop_product_changelist", "view_product"),
]


@pytest.mark.parametrize("name, permission", PAGES)
def test_admin_pages_need_staff_and_the_permission(products, name, permission):
    url = reverse(name)
    for kind, codenames in ACTORS:
        response = actor(kind, *codenames).get(url)
        expected = 403 if kind == "staff" else 302
        assert response.status_code == expected, (kind, url)
        if expected == 302:
            assert response["Location"].startswith(LOGIN)
    allowed = actor("staff", permission)
    assert allowed.get(url).status_code == 200
    if name.endswith("_progress"):
        assert allowed.get(url + "?format=json").status_code == 200


ACTIONS = [
    # (changelist, action, pks of what to select, view permission, the permission the action needs)
    ("admin:shop_product_changelist", "reembed_products", "product", "view_product", "change_product"),
    (
        "admin:visual_search_productimageembedding_changelist",
        "reembed_rows",
        "row",
        "view_productimageembedding",
        "change_productimageembedding",
    ),
]


@pytest.mark.parametrize("changelist, action, selects, view, change", ACTIONS)
def test_bulk_re_embed_actions_need_the_change_permission(
    products, changelist, action, selects, view, change
):
    url = reverse(changelist)
    pks = (
        [p.pk for p in products]
        if selects == "product"
        else list(ProductImageEmbedding.objects.values_list("pk", flat=True))
    )
    data = {"action": action, "_selected_action": pks, "index": "0"}
    for client in [actor(kind, *codenames) for kind, codenames in ACTORS] + [actor("staff", view)]:
        response = client.post(url, data)
        assert response.status_code in (302, 403, 200)
        assert not SyncRequest.objects.exists(), "a re-embed was recorded for someone without the permission"
    response = actor("staff", view, change).post(url, data, follow=True)
    assert response.status_code == 200
    assert "will be re-embedded" in response.content.decode()
    assert set(SyncRequest.objects.values_list("product_id", flat=True)) == {p.pk for p in products}


def test_starting_a_bulk_job_needs_the_run_permission(products):
    url = reverse("admin:visual_search_bulkjob_start")
    refused = {"anonymous": 302, "shopper": 302, "staff": 403}
    for kind, codenames in ACTORS + [("staff", ("view_bulkjob",))]:
        assert actor(kind, *codenames).post(url, {"mode": "all"}).status_code == refused[kind]
    assert not BulkJob.objects.exists() and not SyncRequest.objects.exists()
    assert actor("staff", "run_bulkjob").post(url, {"mode": "all"}).status_code == 302
    assert BulkJob.objects.count() == 1


@pytest.mark.parametrize(
    "url, data, who",
    [
        ("/visual-search/", {}, None),  # the search page's form
        ("admin:visual_search_bulkjob_start", {"mode": "all"}, ("run_bulkjob",)),
        (
            "admin:shop_product_changelist",
            {"action": "reembed_products", "_selected_action": [1]},
            ("view_product", "change_product"),
        ),
        ("/api/v1/search/image/", {}, ()),  # the API under session authentication
    ],
)
def test_every_form_needs_its_csrf_token(products, url, data, who):
    client = Client(enforce_csrf_checks=True)
    if who is not None:
        user = User.objects.create_user("csrf", password="pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=who))
        client.force_login(user)
    target = url if url.startswith("/") else reverse(url)
    response = client.post(target, data)
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert not SyncRequest.objects.exists() and not BulkJob.objects.exists()
