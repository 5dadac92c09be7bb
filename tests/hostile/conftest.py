"""Fixtures for hostile-input tests: the generated corpus, an API caller, the page's error code."""

from __future__ import annotations

import re

import pytest

from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401 - fixtures these tests share
from tests.hostile.make_corpus import build_corpus

PAGE_URL = "/visual-search/"
API_URL = "/api/v1/search/image/"


@pytest.fixture(scope="session")
def corpus():
    return build_corpus()


def page_error_code(response) -> str | None:
    """The refusal code a search-page response carries: its form error's code, or the guard's marker."""
    context = getattr(response, "context", None)
    if context is not None and "form" in context:
        errors = context["form"].errors.as_data().get("image")
        return errors[0].code if errors else None
    match = re.search(rb'data-error-code="([a-z_]+)"', response.content)
    return match.group(1).decode() if match else None


def api_error_code(response) -> str | None:
    if response.status_code == 200:
        return None
    return response.json().get("code")
