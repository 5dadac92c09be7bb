"""The duplicate finder on exact and re-encoded copies, with the real encoder."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from tests.catalogue import category, make_product  # noqa: F401 - fixtures
from tests.conftest import photo_bytes
from tests.quality.rows import embed_products
from visual_search.quality.duplicates import find_duplicates

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(make_product):
    original = photo_bytes("chelsea")
    products = {
        "cat": make_product(original, name="cat"),
        "cat-exact": make_product(original, name="cat-exact"),  # the same file uploaded twice
        # Re-encoded: smaller and recompressed, different bytes.
        "cat-reencoded": make_product(photo_bytes("chelsea", size=300, quality=60), name="cat-reencoded"),
        "coffee": make_product("coffee", name="coffee"),
        "astronaut": make_product("astronaut", name="astronaut"),
        "rocket": make_product("rocket", name="rocket"),
    }
    embed_products(list(products.values()))
    return products


def test_finds_exact_and_reencoded_copies_and_nothing_else(catalogue):
    pairs = find_duplicates()
    found = {frozenset((p.first.name, p.second.name)): p for p in pairs}
    assert set(found) == {
        frozenset(("cat", "cat-exact")), frozenset(("cat", "cat-reencoded")), frozenset(("cat-exact", "cat-reencoded")),
    }
    assert found[frozenset(("cat", "cat-exact"))].exact
    assert found[frozenset(("cat", "cat-exact"))].similarity == pytest.approx(1.0, abs=1e-4)
    reencoded = found[frozenset(("cat", "cat-reencoded"))]
    assert not reencoded.exact and 0.95 <= reencoded.similarity < 1.0
    assert [p.similarity for p in pairs] == sorted((p.similarity for p in pairs), reverse=True)


def test_a_strict_threshold_keeps_only_identical_files(catalogue):
    pairs = find_duplicates(threshold=0.9999)
    assert [(p.first.name, p.second.name, p.exact) for p in pairs] == [("cat", "cat-exact", True)]


def test_command_lists_pairs(catalogue, capsys):
    call_command("visual_search_duplicates", "--json")
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 3 and sum(row["exact"] for row in data) == 1
    call_command("visual_search_duplicates")
    assert "identical file" in capsys.readouterr().out


def test_admin_page_lists_pairs(admin_client, catalogue):
    page = admin_client.get("/admin/shop/product/duplicates/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "3 pairs" in text and "identical file" in text and "cat-reencoded" in text
    strict = admin_client.get("/admin/shop/product/duplicates/?threshold=0.9999").content.decode()
    assert "1 pair " in strict and "cat-reencoded" not in strict


def test_admin_page_needs_change_permission(client, django_user_model, catalogue):
    staff = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/shop/product/duplicates/").status_code == 403
