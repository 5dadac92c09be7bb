"""Every `curl` example in docs/api.md, run against a small catalogue: the documented shape is what comes back.

Each example's request (method, headers, form fields, URL) is read from the page; its
documented answer gives the error ``code`` it should have, or the keys its JSON should
carry. A slug that does not exist, a header the API refuses or a key the API no longer
returns fails this test.
"""

from __future__ import annotations

import re
import shlex
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from shop.models import Category, Product
from tests.api_clients import create_key, fresh_throttles  # noqa: F401
from tests.conftest import photo_bytes
from tests.synthetic import thumbnail_encoder  # noqa: F401
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def examples() -> list[tuple[str, str]]:
    """``(curl command, documented answer)`` pairs, in page order."""
    found, lines = [], API_DOC.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("$ curl"):
            answer = []
            for following in lines[i + 1:]:
                if not following.strip() or following.startswith(("$", "```")):
                    break
                answer.append(following)
            found.append((line[2:].split("   #")[0], "\n".join(answer)))
    return found


def test_the_page_has_examples_to_check():
    assert len(examples()) >= 6


@pytest.fixture
def documented_catalogue(thumbnail_encoder, settings, tmp_path):
    """The products the examples name (91, 103, 9, 12), in the categories they filter on."""
    settings.MEDIA_ROOT = tmp_path / "media"
    dresses = Category.objects.create(name="Dresses", slug="dresses")
    shirts = Category.objects.create(name="Shirts", slug="shirts")
    products = []
    for pk, photo, category, price in [(91, "chelsea", dresses, "39.00"), (103, "chelsea", dresses, "45.00"),
                                       (9, "coffee", shirts, "19.00"), (12, "astronaut", dresses, "29.00")]:
        product = Product(pk=pk, name=f"Product {pk}", slug=f"p-{pk}", category=category, price=Decimal(price))
        product.image.save(f"{pk}.jpg", ContentFile(photo_bytes(photo)), save=False)
        product.save()
        products.append(product)
    sync_products([p.pk for p in products])


def request_for(command: str, key: str):
    words = shlex.split(command.replace("$KEY", key))[1:]
    headers, fields, url = {}, {}, None
    while words:
        word = words.pop(0)
        if word == "-H":
            name, value = words.pop(0).split(": ", 1)
            headers[name] = value
        elif word == "-F":
            name, value = words.pop(0).split("=", 1)
            fields[name] = (SimpleUploadedFile("photo.jpg", photo_bytes("chelsea"), "image/jpeg")
                            if value.startswith("@") else value)
        else:
            url = word
    path = re.sub(r"^https?://[^/]+", "", url)
    return ("post" if fields else "get"), path, headers, fields


@pytest.mark.parametrize("command, answer", examples(), ids=[c.split('"')[-2][:60] for c, _ in examples()])
def test_an_example_answers_as_documented(documented_catalogue, command, answer):
    method, path, headers, fields = request_for(command, create_key("docs"))
    client = Client(headers=headers)
    response = client.post(path, fields) if method == "post" else client.get(path)
    code = re.search(r'"code": "(\w+)"', answer)
    if code:
        assert response.status_code == 400 and response.json()["code"] == code.group(1), response.content
        return
    assert response.status_code == 200, response.content
    if "schema" in path:
        return  # the contract itself: its shape is OpenAPI's
    documented = set(re.findall(r'"(\w+)":', answer))
    body = response.json()
    returned: set[str] = set()
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            returned |= set(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    assert documented <= returned, f"documented but not returned: {documented - returned}"
