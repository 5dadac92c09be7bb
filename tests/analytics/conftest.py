"""The demo shop's catalogue fixtures (category, make_product) for these tests."""

from tests.catalogue import *  # noqa: F401,F403
