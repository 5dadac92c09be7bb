"""The app's pages obey the Content-Security-Policy the project sends: no inline scripts or styles."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

INLINE = [
    (re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(rb"<style\b", re.I), "<style> element"),
    (re.compile(rb"\sstyle=", re.I), "style attribute"),
    (re.compile(rb"\son[a-z]+=", re.I), "event-handler attribute"),
    (re.compile(rb"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("url", ["/visual-search/", "/", "/api/v1/docs/"])
def test_pages_obey_the_csp(client, url):
    """The policy forbids inline scripts and styles, so the app's pages must not carry any."""
    response = client.get(url)
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    found = [what for pattern, what in INLINE if pattern.search(response.content)]
    assert not found, f"{url} carries {', '.join(found)}, which the Content-Security-Policy blocks"


@pytest.mark.parametrize(
    "name",
    [
        "admin:index",
        "admin:shop_product_changelist",
        "admin:visual_search_productimageembedding_changelist",
        "admin:visual_search_productimageembedding_progress",
        "admin:visual_search_bulkjob_changelist",
    ],
)
def test_admin_pages_obey_the_csp(admin_client, name):
    from django.urls import reverse  # noqa: PLC0415

    response = admin_client.get(reverse(name))
    assert response.status_code == 200
    found = [what for pattern, what in INLINE if pattern.search(response.content)]
    assert not found, f"{name} carries {', '.join(found)}, which the Content-Security-Policy blocks"
