"""Photos of what the shop does not sell: named when nothing close was found, and charted by name."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.conftest import photo_bytes
from tests.synthetic import THUMBNAIL_ENCODER
from visual_search.analytics.models import SearchEvent
from visual_search.analytics.reports import build_report
from visual_search.encoders import get_encoder
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db

ANALYTICS_URL = "/admin/visual_search_analytics/searchevent/analytics/"
NAMING_ENCODER = {"BACKEND": "tests.testapp.encoders.NamingEncoder"}
UNSOLD_CHART = 'data-chart="what-shoppers-photographed-that-you-dont-sell"'


@pytest.fixture
def catalogue(make_product, settings):
    """Chelsea the cat is sold; coffee is not. The encoder is the thumbnail one, with a two-photo namer."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": NAMING_ENCODER, "AUTO_EMBED": False,
                              "PAGE_THROTTLE_RATES": {"anon": None, "user": None}}
    products = [make_product(name, name=name) for name in ("chelsea", "astronaut", "rocket")]
    sync_products([p.pk for p in products])
    assert get_encoder().describes
    return products


def search_page(client, photo: str):
    upload = SimpleUploadedFile("q.jpg", photo_bytes(photo), "image/jpeg")
    response = client.post("/visual-search/", {"image": upload})
    assert response.status_code == 200
    return SearchEvent.objects.order_by("-created_at").first()


def test_a_photo_with_no_close_match_is_named_and_one_with_a_match_is_not(client, catalogue):
    sold = search_page(client, "chelsea")
    assert sold.close_match and sold.photo_label is None and sold.photo_label_probability is None
    unsold = search_page(client, "coffee")
    assert not unsold.close_match
    assert unsold.photo_label == "espresso" and 0.5 < unsold.photo_label_probability <= 1.0


def test_the_api_names_unsold_photos_too_and_similar_searches_never(api_client, client, catalogue):
    upload = SimpleUploadedFile("q.jpg", photo_bytes("coffee"), "image/jpeg")
    response = api_client.post("/api/v1/search/image/", {"image": upload, "k": 3})
    assert response.status_code == 200 and response.json()["close_match"] is False
    assert SearchEvent.objects.get(surface="api_image").photo_label == "espresso"
    assert "espresso" not in response.content.decode()  # the log's business, not the shopper's
    assert api_client.get(f"/api/v1/products/{catalogue[0].pk}/similar/?k=2").status_code == 200
    assert SearchEvent.objects.get(surface="api_similar").photo_label is None


def test_an_encoder_that_names_nothing_leaves_the_label_empty(client, catalogue, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ENCODER": THUMBNAIL_ENCODER}
    sync_products([p.pk for p in catalogue])
    event = search_page(client, "coffee")
    assert not event.close_match and event.photo_label is None


def test_a_namer_that_fails_costs_the_label_never_the_search(client, catalogue, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError("checkpoint unreadable")

    monkeypatch.setattr(type(get_encoder()), "describe", broken)
    event = search_page(client, "coffee")
    assert event is not None and event.photo_label is None
    assert "Could not name a query photo" in caplog.text


def labelled(label: str | None, *, days_ago: int = 0, close: bool = False, surface: str = "page"):
    return SearchEvent.objects.create(
        created_at=timezone.now() - datetime.timedelta(days=days_ago), surface=surface, close_match=close,
        results=[["1", 0.3, 0.1]], k=1, query_ms=5.0, photo_label=label,
        photo_label_probability=None if label is None else 0.8,
    )


@pytest.fixture
def named_searches():
    for _ in range(3):
        labelled("espresso")
    labelled("espresso", surface="api_image")
    labelled("tabby")
    labelled("tabby")
    labelled("tabby", days_ago=40)  # outside the page's default 30 days
    labelled("jersey", close=True)  # not something a label would be recorded for; never counted
    labelled(None)
    for i in range(11):  # eleven more names, once each: the chart keeps the ten most searched
        labelled(f"class {i:02d}", surface="api_image")


def test_the_report_counts_unsold_photos_per_name_in_range_and_surface(named_searches):
    today = timezone.localdate()
    report = build_report(today - datetime.timedelta(days=29), today)
    assert report.unsold_labels[:3] == [("espresso", 4), ("tabby", 2), ("class 00", 1)]
    assert len(report.unsold_labels) == 10 and ("jersey", 1) not in report.unsold_labels  # ties by name
    assert build_report(today, today, "page").unsold_labels == [("espresso", 3), ("tabby", 2)]


def test_the_admin_page_charts_them_as_plain_svg_and_the_csv_lists_them(client, named_searches):
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.login(username="boss", password="pw")
    html = client.get(ANALYTICS_URL + "?surface=page").content.decode()
    figure = html[html.index(UNSOLD_CHART):]
    figure = figure[:figure.index("</figure>")]
    assert "What shoppers photographed that you don&#x27;t sell" in figure
    assert "style=" not in figure and "<script" not in figure
    bars = re.findall(r'<rect class="vs-chart--miss" x="200" y="[\d.]+" width="([\d.]+)"', figure)
    assert len(bars) == 2 and float(bars[0]) == pytest.approx(1.5 * float(bars[1]), abs=0.2)  # 3 and 2
    names = re.findall(r'<text class="vs-chart__name"[^>]*>([^<]+)</text>', figure)
    counts = re.findall(r'<text class="vs-chart__tick"[^>]*text-anchor="start"[^>]*>([^<]+)</text>', figure)
    assert (names, counts) == (["espresso", "tabby"], ["3", "2"])
    exported = client.get(ANALYTICS_URL + "?surface=page&format=csv").content.decode()
    rows = list(csv.reader(io.StringIO(exported)))
    table = rows[rows.index(["photographed_not_sold", "searches"]) + 1:]
    assert table == [["espresso", "3"], ["tabby", "2"]]
    empty = client.get(ANALYTICS_URL + "?surface=carousel").content.decode()
    assert UNSOLD_CHART in empty and "No photo searches without a close match were named" in empty


def test_the_real_encoder_names_an_unsold_photo_in_the_search_path(client, settings):
    """EfficientNet-Lite0 (the default encoder) and an empty catalogue: nothing is close, coffee is named."""
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "PAGE_THROTTLE_RATES": {"anon": None, "user": None}}
    assert get_encoder().id == "efficientnet-lite0" and get_encoder().describes
    event = search_page(client, "coffee")
    assert not event.close_match and event.photo_label == "espresso" and event.photo_label_probability > 0.5
