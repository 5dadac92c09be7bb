"""The demo's first page and its start: a mix of the catalogue, and a URL printed only once it answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from shop.catalogue import import_demo_photos
from shop.management.commands.demo import wait_until_listening
from shop.models import Category
from shop.views import PRODUCTS_PER_PAGE


@pytest.mark.django_db
def test_the_first_page_of_the_demo_shows_every_category(client):
    import_demo_photos(per_category=4)
    response = client.get("/")
    shown = {product.category.name for product in response.context["products"]}
    assert len(response.context["products"]) == PRODUCTS_PER_PAGE
    # 24 products of 10 categories, newest first: every category is on the first page, not one alone.
    assert shown == set(Category.objects.values_list("name", flat=True))


@pytest.mark.django_db
def test_favicon_ico_leads_to_the_shops_icon(client):
    response = client.get("/favicon.ico", follow=False)
    assert response.status_code == 302
    assert response["Location"].endswith("shop/favicon.svg")
    assert 'rel="icon"' in client.get("/").content.decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_wait_until_listening_returns_once_the_server_accepts(tmp_path):
    port = _free_port()
    # A server that takes a second to start listening, as runserver takes to import the project.
    script = ("import socket, time; time.sleep(1); s = socket.socket(); "
              f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        started = time.monotonic()
        assert wait_until_listening(f"127.0.0.1:{port}", child, timeout=20)
        assert time.monotonic() - started >= 0.9
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass  # it really listens
    finally:
        child.kill()
        child.wait()


def test_wait_until_listening_gives_up_when_the_server_dies():
    port = _free_port()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert not wait_until_listening(f"127.0.0.1:{port}", child, timeout=20)
    assert child.returncode == 3
