"""The OpenAPI contract at /api/v1/schema/ and the self-served docs at /api/v1/docs/."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

SIMILAR = "/api/v1/products/{pk}/similar/"
SEARCH = "/api/v1/search/image/"


@pytest.fixture
def schema(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_schema_lists_only_the_apps_endpoints_with_parameters_and_errors(schema):
    assert {SIMILAR, SEARCH} <= set(schema["paths"])
    assert all(p.startswith("/api/v1/") for p in schema["paths"])  # nothing else of the host site
    assert not {"/api/v1/schema/", "/api/v1/docs/"} & set(schema["paths"])
    similar = schema["paths"][SIMILAR]["get"]
    names = {p["name"] for p in similar["parameters"]}
    assert names == {"pk", "k", "min_confidence", "positive", "negative", "per_category", "category", "price_min",
                     "price_max", "in_stock"}
    assert {"200", "400", "401", "403", "404", "429"} <= set(similar["responses"])
    search = schema["paths"][SEARCH]["post"]
    assert {p["name"] for p in search["parameters"]} == {"k", "category", "price_min", "price_max", "in_stock"}
    assert {"200", "400", "401", "413", "429"} <= set(search["responses"])
    body = search["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][body]["properties"]) == {"image", "k", "min_confidence", "q"}
    page = similar["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = schema["components"]["schemas"][page]["properties"]
    assert {"close_match", "confidence", "verdict", "calibrated", "similarity_floor"} <= set(fields)
    assert "same kind of thing" in fields["close_match"]["description"]
    result = fields["results"]["items"]["$ref"].rsplit("/", 1)[1]
    assert "never higher than the result above" in schema["components"]["schemas"][result]["properties"]["confidence"]["description"]
    error = similar["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"code", "detail"} <= set(schema["components"]["schemas"][error]["required"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["in"] == "header"
    assert {"ApiKey": []} in similar["security"]


def test_docs_page_loads_with_no_external_url(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200
    for text in (page.content.decode(), script.content.decode()):
        external = [u for u in re.findall(r"https?://[^\s\"'<>)]+", text) if not u.startswith("http://testserver")]
        assert external == []
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', page.content.decode())
    assert len(assets) >= 3 and all(finders.find(a) for a in assets)
