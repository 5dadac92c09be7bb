"""Fixtures shared with the app's other tests."""

from tests.visual_search.conftest import category, make_product  # noqa: F401
