"""The analytics page's figures and charts, the CSV, clicks exported as a manifest, and the purge."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import photo_bytes
from tests.synthetic import thumbnail_encoder  # noqa: F401
from visual_search.analytics.models import Interaction, SearchEvent
from visual_search.analytics.reports import build_report
from visual_search.analytics.tokens import make_token
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db

ANALYTICS_URL = "/admin/visual_search_analytics/searchevent/analytics/"


def event(days_ago: int = 0, *, close: bool = True, results: int = 3, query_ms: float = 10.0, **fields):
    return SearchEvent.objects.create(
        created_at=timezone.now() - datetime.timedelta(days=days_ago), surface=fields.pop("surface", "page"),
        results=[[str(i), 0.9, None] for i in range(results)], close_match=close, k=results,
        decode_ms=2.0, embed_ms=5.0, query_ms=query_ms, **fields,
    )


def test_the_report_counts_misses_latency_and_click_through_by_rank():
    today = timezone.localdate()
    for ms in (10.0, 20.0, 30.0, 40.0):
        event(query_ms=ms)
    miss = event(close=False, results=1)
    Interaction.objects.create(event=miss, product="0", position=1, kind="click")
    Interaction.objects.create(event=SearchEvent.objects.filter(close_match=True).first(), product="2", position=3,
                               kind="click")
    event(days_ago=40)  # outside the range
    report = build_report(today - datetime.timedelta(days=6), today)
    assert (report.searches, report.no_close_match, report.clicks) == (5, 1, 2)
    [day] = report.days
    # Totals per search are 17, 27, 37, 47 and 17 ms (decode 2 + embed 5 + query).
    assert day.p50_ms == pytest.approx(27.0) and 37.0 < day.p95_ms <= 47.0
    ctr = {rank: (shown, clicked) for rank, shown, clicked in report.ctr_by_rank}
    assert ctr[1] == (5, 1) and ctr[2] == (4, 0) and ctr[3] == (4, 1) and ctr[4] == (0, 0)


def test_the_admin_page_draws_its_charts_as_plain_svg_and_exports_csv(client):
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.login(username="boss", password="pw")
    event(days_ago=1, close=False)
    event()
    response = client.get(ANALYTICS_URL)
    assert response.status_code == 200
    html = response.content.decode()
    charts = html[html.index('<figure class="vs-chart"'):html.rindex("</figure>")]
    assert charts.count('<svg viewBox="0 0 640 200" role="img"') == 3
    assert charts.count("<rect") >= 3 and "<polyline" in charts
    chart_markup = charts
    assert "style=" not in chart_markup and "<script" not in chart_markup  # nothing a strict CSP would block
    assert re.search(r'data-total="searches">2<', html) and 'data-total="no-close">50%<' in html
    rows = list(csv.reader(io.StringIO(client.get(ANALYTICS_URL + "?format=csv").content.decode())))
    assert rows[0] == ["day", "searches", "no_close_match", "p50_ms", "p95_ms"]
    assert rows[3:] == [[], ["photographed_not_sold", "searches"]]  # two days, then no named photos
    only_api = client.get(ANALYTICS_URL + "?surface=api_image").content.decode()
    assert 'data-total="searches">0<' in only_api and "No searches in this range." in only_api


def test_clicks_export_as_a_manifest_that_evaluate_reads(client, thumbnail_encoder, make_product, settings, tmp_path):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "QUERY_PHOTO_RETENTION_DAYS": 1,
                              "PAGE_THROTTLE_RATES": {"anon": None, "user": None}}
    products = {name: make_product(name, name=name) for name in ("chelsea", "coffee", "astronaut")}
    sync_products([p.pk for p in products.values()])
    for name in ("chelsea", "coffee"):
        client.post("/visual-search/", {"image": SimpleUploadedFile("q.jpg", photo_bytes(name), "image/jpeg")})
    for search, name in zip(SearchEvent.objects.order_by("created_at"), ("chelsea", "coffee"), strict=True):
        assert search.photo  # kept, under a server-chosen name
        client.get(f"/visual-search/click/{make_token(search.pk, products[name].pk, 1)}/")
    manifest = tmp_path / "clicks.csv"
    out = io.StringIO()
    call_command("visual_search_analytics", "export-manifest", str(manifest), stdout=out)
    assert "2 queries, 3 catalogue photos" in out.getvalue()
    report = tmp_path / "eval.json"
    call_command("visual_search_evaluate", str(manifest), "--encoder", "visual_search.encoders.thumbnail.ThumbnailEncoder",
                 "--json", str(report), "--cache-dir", str(tmp_path / "cache"), stdout=io.StringIO(),
                 stderr=io.StringIO())
    figures = json.loads(report.read_text())
    assert (figures["dataset"]["queries"], figures["dataset"]["catalogue_products"]) == (2, 3)
    assert figures["runs"] and "recall" in json.dumps(figures["runs"][0]).lower()


def test_purge_deletes_searches_past_the_retention_with_their_clicks(settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "ANALYTICS_RETENTION_DAYS": 30}
    old, recent = event(days_ago=31), event(days_ago=29)
    Interaction.objects.create(event=old, product="1", position=1, kind="click")
    call_command("visual_search_analytics", "purge", stdout=io.StringIO())
    assert list(SearchEvent.objects.all()) == [recent] and not Interaction.objects.exists()
