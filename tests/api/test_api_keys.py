"""Who may call the API: keys from the command, sessions, anonymous callers; throttles per caller and scope."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from tests.api_clients import api_client, api_key, create_key, fresh_throttles  # noqa: F401
from tests.conftest import photo_bytes
from tests.synthetic import thumbnail_encoder, vector_catalogue  # noqa: F401

pytestmark = pytest.mark.django_db

SEARCH_URL = "/api/v1/search/image/"


@pytest.fixture
def product(vector_catalogue):
    products, _ = vector_catalogue(6)
    return products[0]


def similar_url(product) -> str:
    return f"/api/v1/products/{product.pk}/similar/?k=3&min_confidence=0"


def upload():
    return {"image": SimpleUploadedFile("p.jpg", photo_bytes("coffee", size=64), content_type="image/jpeg")}


def keyed(key: str) -> Client:
    return Client(headers={"Authorization": f"Api-Key {key}"})


def test_anonymous_calls_get_401_even_when_the_host_allows_any(client, product, settings):
    assert "AllowAny" in settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"][0]  # the demo's host default
    for response in (client.get(similar_url(product)), client.post(SEARCH_URL, upload())):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"] == 'Api-Key realm="api", Bearer realm="api"'


def test_a_key_from_the_command_gets_200(api_client, product):
    response = api_client.get(similar_url(product))
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    assert api_client.post(SEARCH_URL, upload()).status_code == 200


def test_keys_are_stored_hashed_and_listed_without_the_secret(api_key):
    from rest_framework_api_key.models import APIKey

    stored = APIKey.objects.get(name="partner")
    assert api_key.startswith(stored.prefix + ".") and api_key not in stored.hashed_key
    out = io.StringIO()
    call_command("visual_search_apikey", "list", stdout=out)
    assert f"{stored.prefix}\tpartner" in out.getvalue() and "active" in out.getvalue()
    assert api_key not in out.getvalue()


def test_a_revoked_key_gets_401(api_key, product):
    prefix = api_key.split(".")[0]
    assert keyed(api_key).get(similar_url(product)).status_code == 200
    call_command("visual_search_apikey", "revoke", prefix, stdout=io.StringIO())
    response = keyed(api_key).get(similar_url(product))
    assert response.status_code == 401 and response.json()["code"] == "invalid_api_key"


def test_an_expired_key_gets_401(product):
    out = io.StringIO()
    call_command("visual_search_apikey", "create", "old-partner", "--expires", "2020-01-31", stdout=out,
                 stderr=io.StringIO())
    response = keyed(out.getvalue().strip()).get(similar_url(product))
    assert response.status_code == 401 and response.json()["code"] == "expired_api_key"


def test_the_command_refuses_a_bad_date_and_an_unknown_key(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("visual_search_apikey", "create", "x", "--expires", "soon", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No API key"):
        call_command("visual_search_apikey", "revoke", "nope", stdout=io.StringIO())


@pytest.mark.parametrize("header", ["Api-Key nonsense", "Api-Key abc.def", "Api-Key "])
def test_a_wrong_key_gets_401(product, header):
    response = Client(headers={"Authorization": header}).get(similar_url(product))
    assert response.status_code == 401


def test_the_shops_own_pages_may_use_the_session(client, product, django_user_model):
    client.force_login(django_user_model.objects.create_user("shopper", password="x"))
    assert client.get(similar_url(product)).status_code == 200


def test_a_setting_opens_the_api_to_anonymous_callers_under_their_own_rate(client, product, settings):
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH, "API_ALLOW_ANONYMOUS": True,
        "API_THROTTLE_RATES": {"anon": "2/min", "key": "100/min", "user": "100/min", "upload": "100/min"},
    }
    assert [client.get(similar_url(product)).status_code for _ in range(3)] == [200, 200, 429]


def test_the_upload_scope_answers_429_with_retry_after(api_client, product, settings):
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH,
        "API_THROTTLE_RATES": {"anon": None, "user": None, "key": "100/min", "upload": "2/min"},
    }
    statuses = [api_client.post(SEARCH_URL, upload()).status_code for _ in range(2)]
    refused = api_client.post(SEARCH_URL, upload())
    assert statuses == [200, 200] and refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    # The upload scope does not touch the other endpoint.
    assert api_client.get(similar_url(product)).status_code == 200


def test_each_key_has_its_own_rate(product, settings):
    fast, slow = create_key("fast-partner"), create_key("slow-partner")
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH,
        "API_THROTTLE_RATES": {"anon": None, "user": None, "key": "100/min", "upload": None},
        "API_KEY_THROTTLE_RATES": {"slow-partner": {"key": "1/min"}},
    }
    assert [keyed(slow).get(similar_url(product)).status_code for _ in range(2)] == [200, 429]
    assert [keyed(fast).get(similar_url(product)).status_code for _ in range(3)] == [200, 200, 200]
