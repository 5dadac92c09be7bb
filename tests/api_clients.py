"""Fixtures for API tests: a key made by the real management command, and a client that sends it."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client


def create_key(name: str = "partner") -> str:
    """A key created through ``manage.py visual_search_apikey create NAME`` (what it prints)."""
    out = io.StringIO()
    call_command("visual_search_apikey", "create", name, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttle counters live in the cache; each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_key(db) -> str:
    return create_key()


@pytest.fixture
def api_client(api_key) -> Client:
    return Client(headers={"Authorization": f"Api-Key {api_key}"})
