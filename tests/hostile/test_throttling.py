"""Throttles that hold: a client-set X-Forwarded-For never resets them; users and addresses both count."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client, RequestFactory

from tests.hostile.conftest import API_URL, PAGE_URL, api_error_code, page_error_code
from visual_search.search.throttling import client_address

pytestmark = pytest.mark.django_db

spoofed = (f"10.{i % 250}.{i // 250}.7" for i in itertools.count(1))


def _meta(remote: str, xff: str | None = None):
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **({"HTTP_X_FORWARDED_FOR": xff} if xff else {}))
    return request


@pytest.mark.parametrize(
    "proxies, remote, xff, expected",
    [
        (0, "203.0.113.9", "1.2.3.4", "203.0.113.9"),  # no proxy: the header is the client's own words
        (1, "10.0.0.2", "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # nginx appended the real client last
        (2, "10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.1", "198.51.100.7"),  # CDN, then nginx
        (1, "10.0.0.2", None, "10.0.0.2"),  # proxy configured but no header: the proxy itself, never a guess
        (3, "10.0.0.2", "198.51.100.7", "198.51.100.7"),  # fewer hops than proxies: the leftmost known
        (0, "2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),  # IPv6 by /64
        (0, "::ffff:203.0.113.9", None, "203.0.113.9"),
        (1, "10.0.0.2", "not-an-address", "not-an-address"),
    ],
)
def test_client_address_counts_trusted_hops_from_the_right(settings, proxies, remote, xff, expected):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "TRUSTED_PROXIES": proxies}
    assert client_address(_meta(remote, xff)) == expected


def _page_post(client: Client, **extra):
    return client.post(PAGE_URL, {}, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=next(spoofed), **extra)


def test_spoofed_forwarded_for_does_not_reset_the_page_throttle(client, settings):
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH,
        "PAGE_THROTTLE_RATES": {"anon": "3/min", "user": "100/min"},
    }
    statuses = [_page_post(client).status_code for _ in range(3)]
    assert statuses == [400, 400, 400]  # counted even though the form is empty
    refused = _page_post(client)
    assert (refused.status_code, page_error_code(refused)) == (429, "throttled")
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Another address is its own bucket.
    assert client.post(PAGE_URL, {}, REMOTE_ADDR="203.0.113.6").status_code == 400


def test_page_throttles_logged_in_users_wherever_they_connect_from(client, settings, django_user_model):
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH,
        "PAGE_THROTTLE_RATES": {"anon": "100/min", "user": "2/min"},
    }
    client.force_login(django_user_model.objects.create_user("shopper", password="x"))
    addresses = (f"198.51.100.{i}" for i in range(1, 10))
    assert [client.post(PAGE_URL, {}, REMOTE_ADDR=next(addresses)).status_code for _ in range(2)] == [
        400,
        400,
    ]
    assert client.post(PAGE_URL, {}, REMOTE_ADDR=next(addresses)).status_code == 429
    other = Client()
    other.force_login(django_user_model.objects.create_user("another", password="x"))
    assert other.post(PAGE_URL, {}, REMOTE_ADDR="198.51.100.1").status_code == 400


def test_page_gets_are_not_counted(client, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "PAGE_THROTTLE_RATES": {"anon": "1/min"}}
    assert [client.get(PAGE_URL).status_code for _ in range(3)] == [200, 200, 200]


def test_spoofed_forwarded_for_does_not_reset_the_api_throttle(client, settings):
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH,
        "API_ALLOW_ANONYMOUS": True,
        "API_THROTTLE_RATES": {"anon": "3/min", "user": None, "key": None, "upload": None},
    }
    for _ in range(3):
        assert (
            client.post(
                API_URL, {}, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=next(spoofed)
            ).status_code
            == 400
        )
    refused = client.post(API_URL, {}, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=next(spoofed))
    assert (refused.status_code, api_error_code(refused)) == (429, "throttled")
    assert "Retry-After" in refused


def test_behind_one_proxy_each_real_client_has_its_own_bucket(client, settings):
    settings.VISUAL_SEARCH = {
        **settings.VISUAL_SEARCH,
        "TRUSTED_PROXIES": 1,
        "PAGE_THROTTLE_RATES": {"anon": "2/min"},
    }

    def via_proxy(real_client: str):
        # What nginx sends: whatever the client wrote, then the address nginx saw.
        return client.post(
            PAGE_URL, {}, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"{next(spoofed)}, {real_client}"
        )

    assert [via_proxy("198.51.100.7").status_code for _ in range(3)] == [400, 400, 429]
    assert via_proxy("198.51.100.8").status_code == 400
