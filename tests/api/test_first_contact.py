"""The API an integrator meets first: the headers keys come in, filter values, JSON errors, the listing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import got_request_exception
from django.test import Client
from django.utils import timezone

from tests.conftest import photo_bytes
from visual_search.models import ProductImageEmbedding, SyncRequest

pytestmark = pytest.mark.django_db

ACCEPTED = "Authorization: Api-Key <key>, Authorization: Bearer <key> or X-Api-Key: <key>"


# Keys, however the client sends them


@pytest.mark.parametrize("headers", [
    lambda key: {"Authorization": f"Api-Key {key}"},
    lambda key: {"Authorization": f"Bearer {key}"},
    lambda key: {"Authorization": f"bearer {key}"},
    lambda key: {"X-Api-Key": key},
])
def test_a_key_works_in_each_accepted_header(api_key, catalogue, headers):
    client = Client(headers=headers(api_key))
    response = client.get(f"/api/v1/products/{catalogue['chelsea'].pk}/similar/?k=2")
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize("headers, code", [
    ({}, "not_authenticated"),
    ({"Authorization": "Token abc"}, "not_authenticated"),  # a scheme the API does not take
    ({"Authorization": "Bearer not-a-key"}, "invalid_api_key"),
    ({"X-Api-Key": "not-a-key"}, "invalid_api_key"),
])
def test_every_401_names_the_accepted_headers(catalogue, headers, code):
    response = Client(headers=headers).get(f"/api/v1/products/{catalogue['chelsea'].pk}/similar/")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == code
    assert body["detail"].endswith(f"Send {ACCEPTED}.")
    assert "Bearer" in response["WWW-Authenticate"]


def test_the_schema_offers_the_bare_key_two_ways():
    schema = Client().get("/api/v1/schema/?format=json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert schemes["Bearer"] == {**schemes["Bearer"], "type": "http", "scheme": "bearer"}
    for path in ("/api/v1/products/", "/api/v1/search/image/"):
        operation = next(iter(schema["paths"][path].values()))
        assert {"ApiKey": []} in operation["security"] and {"Bearer": []} in operation["security"]


# Filters that say what they take


def test_an_unknown_filter_value_is_a_400_listing_names_and_slugs(api_client, catalogue):
    response = api_client.get(f"/api/v1/products/{catalogue['chelsea'].pk}/similar/?category=hat")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_filter_value"
    assert body["valid_values"] == [{"value": "hats", "name": "Hats"},
                                    {"value": "long-sleeves", "name": "Long sleeves"}]
    assert "hats (Hats), long-sleeves (Long sleeves)" in body["detail"]


def test_a_category_name_works_as_its_slug(api_client, catalogue):
    url = f"/api/v1/products/{catalogue['chelsea'].pk}/similar/"
    # min_confidence=0: every result, not only those over the floor (a cat is not much like an astronaut)
    by_name = api_client.get(url, {"category": "Long sleeves", "min_confidence": 0})
    by_slug = api_client.get(url, {"category": "long-sleeves", "min_confidence": 0})
    assert by_name.status_code == by_slug.status_code == 200
    assert [r["id"] for r in by_name.json()["results"]] == [r["id"] for r in by_slug.json()["results"]]
    assert {r["title"] for r in by_name.json()["results"]} == {"astronaut", "rocket"}


def test_search_by_image_honours_k_in_the_query(api_client, catalogue):
    def search(url, **fields):
        image = SimpleUploadedFile("p.jpg", photo_bytes("chelsea", size=96), content_type="image/jpeg")
        response = api_client.post(url, {"image": image, **fields})
        assert response.status_code == 200, response.json()
        return response.json()["results"]

    assert len(search("/api/v1/search/image/?k=1")) == 1
    assert len(search("/api/v1/search/image/?k=3")) == 3
    assert len(search("/api/v1/search/image/?k=3", k=2)) == 2  # the form's field wins
    bad = api_client.post("/api/v1/search/image/?k=0", {"image": SimpleUploadedFile("p.jpg", b"x")})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"


# JSON everywhere, in one shape


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/nothing-here/"),
    ("get", "/api/v1/"),
    ("post", "/api/v1/products/1/similar/extra/"),
    ("delete", "/api/v1/v2/search/"),
])
def test_unknown_paths_answer_json_404_without_a_key(method, path):
    response = getattr(Client(), method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": response.json()["detail"]}
    assert path in response.json()["detail"]


def test_a_missing_slash_redirects_a_get_and_is_pointed_out_to_a_post(api_client, catalogue):
    url = f"/api/v1/products/{catalogue['chelsea'].pk}/similar"
    response = api_client.get(url, {"k": 2})
    assert response.status_code == 301 and response["Location"] == f"{url}/?k=2"  # as APPEND_SLASH does
    response = api_client.post("/api/v1/search/image")
    assert response.status_code == 404
    assert "Did you mean /api/v1/search/image/?" in response.json()["detail"]


def test_other_errors_share_the_shape(api_client, catalogue):
    wrong_method = api_client.delete("/api/v1/search/image/")
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"code", "detail"}
    wrong_body = api_client.post("/api/v1/search/image/", data="{}", content_type="application/json")
    assert wrong_body.status_code == 415 and set(wrong_body.json()) == {"code", "detail"}


def test_a_crash_is_a_json_500(api_client, catalogue, monkeypatch):
    from visual_search.api import views  # noqa: PLC0415

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "similar_products", broken)
    reported = []

    def receiver(**kwargs):
        reported.append(kwargs["request"].path)

    got_request_exception.connect(receiver)
    try:
        client = Client(headers={"Authorization": api_client.defaults["HTTP_AUTHORIZATION"]},
                        raise_request_exception=False)
        response = client.get(f"/api/v1/products/{catalogue['chelsea'].pk}/similar/")
    finally:
        got_request_exception.disconnect(receiver)
    assert response.status_code == 500
    assert response.json() == {"code": "server_error", "detail": "Internal server error."}
    assert reported == [f"/api/v1/products/{catalogue['chelsea'].pk}/similar/"]  # error trackers hear of it


# The product listing


def test_the_listing_pages_through_every_searchable_product(api_client, catalogue):
    seen, url = [], "/api/v1/products/?page_size=2"
    while url:
        body = api_client.get(url).json()
        assert len(body["results"]) <= 2
        seen += body["results"]
        url = body["next"]
    assert [item["id"] for item in seen] == sorted((str(p.pk) for p in catalogue.values()), key=int)
    by_title = {item["title"]: item for item in seen}
    assert by_title["chelsea"]["embedding_status"] == "ready"
    assert by_title["blank"]["embedding_status"] == "no_images"
    assert by_title["blank"]["last_embedded_at"] is None
    row = ProductImageEmbedding.objects.get(product=catalogue["chelsea"])
    assert dt.datetime.fromisoformat(by_title["chelsea"]["last_embedded_at"]) == row.embedded_at
    assert dt.datetime.fromisoformat(by_title["chelsea"]["changed_at"]) == row.updated_at
    assert by_title["chelsea"]["url"] == f"http://testserver/products/{catalogue['chelsea'].pk}/"
    assert by_title["chelsea"]["image_url"].startswith("http://testserver/")


def test_the_listing_filters_by_status_and_change_time(api_client, catalogue):
    def ids(query):
        response = api_client.get("/api/v1/products/", query)
        assert response.status_code == 200, response.json()
        return {item["title"] for item in response.json()["results"]}

    assert ids({"status": "ready"}) == {"chelsea", "coffee", "astronaut", "rocket"}
    assert ids({"status": "no_images"}) == {"blank"}
    assert ids({"status": "pending"}) == set()

    later = timezone.now() + dt.timedelta(seconds=1)
    assert ids({"changed_since": later.isoformat()}) == set()
    # Work owed for one product after that time: it changed, and it is pending now.
    SyncRequest.objects.create(product=catalogue["coffee"], requested_at=later + dt.timedelta(seconds=1))
    assert ids({"changed_since": later.isoformat()}) == {"coffee"}
    assert ids({"changed_since": later.isoformat(), "status": "pending"}) == {"coffee"}


@pytest.mark.parametrize("query, field", [
    ("status=done", "status"), ("changed_since=yesterday", "changed_since"), ("page_size=0", "page_size"),
    ("page_size=201", "page_size"), ("cursor=not-a-cursor", "cursor"),
])
def test_the_listing_refuses_bad_parameters(api_client, catalogue, query, field):
    response = api_client.get(f"/api/v1/products/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["errors"]


def test_the_listing_needs_a_key_and_is_in_the_schema(catalogue):
    assert Client().get("/api/v1/products/").status_code == 401
    schema = Client().get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/products/"]["get"]
    assert operation["operationId"] == "list_products"
    assert {"cursor", "page_size", "status", "changed_since"} <= {p["name"] for p in operation["parameters"]}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"next", "previous", "results"} <= set(schema["components"]["schemas"][page]["properties"])
    item = schema["components"]["schemas"]["ProductListing"]["properties"]
    assert {"id", "embedding_status", "last_embedded_at", "changed_at"} <= set(item)


def test_the_upload_body_and_the_suggestion_are_described():
    schema = Client().get("/api/v1/schema/?format=json").json()
    body = schema["paths"]["/api/v1/search/image/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    upload = schema["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert "multipart form upload" in upload["description"]
    suggestion = schema["components"]["schemas"]["CategorySuggestion"]["properties"]
    vote = schema["components"]["schemas"][suggestion["votes"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(vote["properties"]) == {"id", "name", "share"}
    assert vote["properties"]["share"]["type"] == "number"


def test_a_listing_page_costs_the_same_queries_whatever_its_size(api_client, catalogue):
    from django.db import connection  # noqa: PLC0415
    from django.test.utils import CaptureQueriesContext  # noqa: PLC0415

    def queries(page_size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api_client.get("/api/v1/products/", {"page_size": page_size})
        assert len(response.json()["results"]) == page_size
        return len(captured)

    # The first four have photos; the demo adapter reads galleries only for products without one.
    assert queries(1) == queries(4)
