"""Words alone and words with a photo: full-text ranking over the adapter's text, fused by reciprocal rank."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.conftest import photo_bytes
from tests.synthetic import thumbnail_encoder  # noqa: F401
from visual_search.indexing.sync import sync_products
from visual_search.search.service import search_by_image
from visual_search.search.text import (
    RRF_K,
    TextSearchUnavailable,
    fuse,
    search_by_image_and_text,
    search_by_text,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(thumbnail_encoder, make_product, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "PAGE_THROTTLE_RATES": {"anon": None, "user": None}}
    made = {
        "chelsea": make_product("chelsea", name="Tabby cat poster"),
        "coffee": make_product("coffee", name="Red espresso cup", description="A red cup for strong coffee"),
        "astronaut": make_product("astronaut", name="Astronaut print"),
    }
    sync_products([p.pk for p in made.values()])
    return made


def titles(results) -> list[str]:
    return [r.product.name for r in results]


def test_fusion_adds_reciprocal_ranks():
    assert fuse([["a", "b", "c"], ["c", "a"]], 3) == ["a", "c", "b"]  # a: 1/61+1/62, c: 1/63+1/61, b: 1/62
    assert fuse([["a"], []], 5) == ["a"] and 1 / (RRF_K + 1) > 1 / (RRF_K + 2)


def test_words_alone_rank_by_the_text_with_stemming_and_filters(catalogue):
    assert titles(search_by_text("red cups")) == ["Red espresso cup"]  # "cups" stems to "cup"
    assert set(titles(search_by_text("print or poster"))) == {"Astronaut print", "Tabby cat poster"}
    assert search_by_text("red", filters={"price__gte": 1000}) == []
    [result] = search_by_text("espresso")
    assert 0 < result.score < 1  # the text rank, normalised


def test_a_shop_without_text_fields_has_no_word_search(catalogue, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ADAPTER": "visual_search.adapters.ImageFieldAdapter"}
    with pytest.raises(TextSearchUnavailable):
        search_by_text("red")


def test_words_lift_what_also_matches_them_and_scores_stay_visual(catalogue):
    photo = photo_bytes("chelsea")
    alone = search_by_image(photo, k=3)
    fused = search_by_image_and_text(photo, "red cup", k=3)
    assert titles(alone)[0] == "Tabby cat poster" and titles(fused)[0] == "Red espresso cup"
    visual = {r.product.pk: r.score for r in alone}
    assert all(r.score == pytest.approx(visual[r.product.pk]) for r in fused)  # confidence stays a visual one


def test_the_api_searches_with_words_alone_and_with_a_photo(api_client, catalogue):
    words = api_client.get("/api/v1/search/", {"q": "red cup", "k": 5})
    assert words.status_code == 200
    assert [r["title"] for r in words.json()["results"]] == ["Red espresso cup"]
    assert api_client.get("/api/v1/search/").json()["code"] == "invalid"  # q is required
    both = api_client.post("/api/v1/search/image/", {
        "image": SimpleUploadedFile("q.jpg", photo_bytes("chelsea"), "image/jpeg"), "q": "red cup", "k": 3,
    })
    assert both.status_code == 200 and both.json()["results"][0]["title"] == "Red espresso cup"


def test_the_page_takes_words_with_or_without_a_photo(client, catalogue):
    alone = client.get("/visual-search/", {"q": "astronaut"})
    assert alone.status_code == 200 and "Astronaut print" in alone.content.decode()
    assert 'name="q"' in alone.content.decode()
    both = client.post("/visual-search/", {
        "image": SimpleUploadedFile("q.jpg", photo_bytes("chelsea"), "image/jpeg"), "q": "red cup",
    })
    html = both.content.decode()
    assert both.status_code == 200 and html.index("Red espresso cup") < html.index("Tabby cat poster")
