"""The search log: every surface records its searches, result links count clicks, conversions follow."""

from __future__ import annotations

import re
import types

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError

from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.conftest import photo_bytes
from tests.synthetic import thumbnail_encoder  # noqa: F401
from visual_search.analytics.interactions import record_conversion
from visual_search.analytics.models import Interaction, SearchEvent
from visual_search.analytics.tokens import make_token
from visual_search.encoders import get_encoder
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db

CLICK_LINK = re.compile(r'data-vs-click="(/visual-search/click/[^"]+/)"')


@pytest.fixture
def catalogue(thumbnail_encoder, make_product, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "PAGE_THROTTLE_RATES": {"anon": None, "user": None}}
    products = [make_product(name, name=name) for name in ("chelsea", "coffee", "astronaut", "rocket")]
    sync_products([p.pk for p in products])
    return {p.name: p for p in products}


def search_page(client, photo: str = "chelsea"):
    return client.post("/visual-search/", {"image": SimpleUploadedFile("q.jpg", photo_bytes(photo), "image/jpeg")})


def test_a_page_search_is_logged_without_the_photo_or_the_address(client, catalogue):
    response = search_page(client)
    assert response.status_code == 200
    event = SearchEvent.objects.get()
    assert event.surface == "page" and event.encoder == get_encoder().id
    assert event.k == len(event.results) == 4
    assert event.results[0][0] == str(catalogue["chelsea"].pk)  # the same photo ranks its product first
    assert event.close_match is True
    assert event.decode_ms > 0 and event.embed_ms > 0 and event.query_ms > 0
    assert re.fullmatch(r"[0-9a-f]{16}", event.photo_hash) and event.photo == ""  # retention is off
    assert event.caller.startswith("anon:") and "127.0.0.1" not in event.caller
    # Each card shown links to its product and reports clicks to the counter.
    html = response.content.decode()
    assert catalogue["chelsea"].get_absolute_url() in html
    assert len(CLICK_LINK.findall(html)) == html.count('class="vs-card__link"') >= 1


def test_the_same_photo_hashes_alike_and_another_does_not(client, catalogue):
    for photo in ("chelsea", "chelsea", "coffee"):
        search_page(client, photo)
    hashes = list(SearchEvent.objects.order_by("created_at").values_list("photo_hash", flat=True))
    assert hashes[0] == hashes[1] != hashes[2]


def test_a_click_is_counted_once_and_redirects_to_the_product(client, catalogue):
    search_page(client)
    event = SearchEvent.objects.get()
    second = catalogue_by_pk(catalogue)[event.results[1][0]]
    from visual_search.analytics.tokens import make_token as token  # noqa: PLC0415
    link = f"/visual-search/click/{token(event.pk, second.pk, 2)}/"
    beacon = client.post(link)  # what the page's script sends, with no CSRF token
    assert beacon.status_code == 204
    followed = client.get(link)  # a link opened without the script: counted, then redirected; once in all
    assert followed.status_code == 302 and followed["Location"] == second.get_absolute_url()
    click = Interaction.objects.get()
    assert (click.kind, click.product, click.position, click.event_id) == ("click", str(second.pk), 2, event.pk)


def test_an_altered_click_token_counts_nothing(client, catalogue):
    link = CLICK_LINK.findall(search_page(client).content.decode())[0]
    forged = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    assert client.get(forged).status_code == 404
    assert client.get("/visual-search/click/not-a-token/").status_code == 404
    assert not Interaction.objects.exists()


def catalogue_by_pk(catalogue) -> dict:
    return {str(p.pk): p for p in catalogue.values()}


def test_a_basket_add_after_a_click_is_tied_to_the_search(client, catalogue):
    link = CLICK_LINK.findall(search_page(client).content.decode())[0]
    client.get(link)
    request = types.SimpleNamespace(session=client.session)
    basket = record_conversion(catalogue["chelsea"], "basket", request=request)
    assert basket is not None and basket.position == 1 and str(basket.event_id) == str(SearchEvent.objects.get().pk)
    # A product the shopper never reached from a search is not credited to one.
    assert record_conversion(catalogue["rocket"], "purchase", request=request) is None


def test_api_searches_carry_click_tokens_and_take_interaction_reports(api_client, catalogue):
    response = api_client.post("/api/v1/search/image/",
                               {"image": SimpleUploadedFile("q.jpg", photo_bytes("coffee"), "image/jpeg"), "k": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    event = SearchEvent.objects.get()
    assert (event.surface, event.caller, event.k) == ("api_image", "key:partner", 3)
    assert all(r["click_token"] for r in results)
    report = api_client.post("/api/v1/interactions/", {"token": results[0]["click_token"], "kind": "purchase"},
                             content_type="application/json")
    assert report.status_code == 204
    assert Interaction.objects.get().kind == "purchase"
    bad = api_client.post("/api/v1/interactions/", {"token": "x" + results[0]["click_token"]},
                          content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_token"


def test_similar_products_through_the_api_and_the_carousel_are_logged(api_client, client, catalogue, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SIMILARITY_FLOOR": -1.0}  # the carousel shows every item
    chelsea = catalogue["chelsea"]
    assert api_client.get(f"/api/v1/products/{chelsea.pk}/similar/?k=2").status_code == 200
    page = client.get(chelsea.get_absolute_url())
    assert page.status_code == 200
    surfaces = dict(SearchEvent.objects.values_list("surface", "query_product"))
    assert surfaces == {"api_similar": str(chelsea.pk), "carousel": str(chelsea.pk)}
    assert CLICK_LINK.search(page.content.decode())  # carousel cards count clicks too


def test_with_the_log_off_nothing_is_recorded_and_links_are_plain(client, catalogue, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "SEARCH_LOG": False}
    html = search_page(client).content.decode()
    assert not SearchEvent.objects.exists()
    assert not CLICK_LINK.search(html) and "data-vs-click" not in html


def test_a_log_that_cannot_be_written_never_fails_the_search(client, catalogue, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(SearchEvent, "save", broken)
    response = search_page(client)
    assert response.status_code == 200 and "chelsea" in response.content.decode()


def test_a_token_names_its_search_product_and_rank(catalogue):
    from visual_search.analytics.tokens import read_token

    assert read_token(make_token("e1", catalogue["coffee"].pk, 4)) == ("e1", str(catalogue["coffee"].pk), 4)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_log_commits_without_waiting_for_the_disk_and_leaks_no_setting(catalogue):
    from django.db import connection  # noqa: PLC0415
    from django.test import RequestFactory  # noqa: PLC0415

    from visual_search.analytics.log import record_search  # noqa: PLC0415
    from visual_search.search.results import build_result_page  # noqa: PLC0415
    from visual_search.search.service import similar_products  # noqa: PLC0415

    page = build_result_page(similar_products(catalogue["chelsea"], 2))
    assert not connection.in_atomic_block
    event = record_search(RequestFactory().get("/"), "api_similar", page, k=2)
    assert SearchEvent.objects.filter(pk=event.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # SET LOCAL ended with the log's own transaction
