"""An API response and a carousel cost a fixed number of queries, whatever k is."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.conftest import photo_bytes
from tests.synthetic import thumbnail_encoder, vector_catalogue  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def products(vector_catalogue):
    return vector_catalogue(30, categories={"shirt": 15, "dress": 15})[0]


def queries(call) -> int:
    """Queries ``call`` runs, after a first call that gets once-per-process look-ups out of the way."""
    call()
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


def ok(response):
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("filters", ["", "&category=dress&in_stock=true"])
def test_similar_endpoint_queries_do_not_grow_with_k(api_client, products, filters):
    url = f"/api/v1/products/{products[0].pk}/similar/?k={{k}}&min_confidence=0{filters}"
    counts = {k: queries(lambda k=k: ok(api_client.get(url.format(k=k)))) for k in (3, 12)}
    assert counts[3] == counts[12]


def test_search_by_image_queries_do_not_grow_with_k(api_client, products):
    def post(k):
        image = SimpleUploadedFile("p.jpg", photo_bytes("coffee", size=64), content_type="image/jpeg")
        return ok(api_client.post("/api/v1/search/image/", {"image": image, "k": k}))

    assert queries(lambda: post(3)) == queries(lambda: post(12))


def test_the_carousel_tag_queries_do_not_grow_with_k(products):
    from django.template import Context, Template

    template = Template("{% load visual_search %}{% similar_products_carousel product k min_confidence=0 %}")

    def render(k):
        html = template.render(Context({"product": products[0], "k": k}))
        assert html.count(" href=") >= k  # one link per card at least

    assert queries(lambda: render(3)) == queries(lambda: render(12))
