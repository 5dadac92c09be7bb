"""The REST API and the HTML search page, with good and hostile uploads."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from tests.api_clients import api_client, api_key, fresh_throttles  # noqa: F401
from tests.conftest import photo_bytes
from visual_search.indexing.sync import sync_products

pytestmark = pytest.mark.django_db

SEARCH_URL = "/api/v1/search/image/"


@pytest.fixture
def catalogue(make_product):
    products = [make_product(name, name=name) for name in ("chelsea", "coffee", "astronaut", "rocket")]
    sync_products([p.pk for p in products])
    return {p.name: p for p in products}


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def bomb_png() -> bytes:
    """A 12,000 x 12,000 blank PNG: a few hundred KB on the wire, 144 megapixels decoded."""
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_similar_products_endpoint(api_client, catalogue):
    response = api_client.get(f"/api/v1/products/{catalogue['chelsea'].pk}/similar/?k=2&min_confidence=0")
    assert response.status_code == 200
    body = response.json()
    assert body["product"] == str(catalogue["chelsea"].pk)
    assert len(body["results"]) == 2
    first = body["results"][0]
    assert set(first) == {
        "id", "title", "url", "image_url", "price", "in_stock", "score", "distance", "relevance", "matched_image",
        "click_token", "confidence",
    }
    # A cat among a coffee cup, an astronaut and a rocket: the nearest are shown, but not as matches.
    assert body["close_match"] is False and body["similarity_floor"] == 0.55 and body["calibrated"] is False
    assert {r["relevance"] for r in body["results"]} == {"not_close"}
    assert 0 <= body["results"][1]["confidence"] <= first["confidence"] < 0.5 and body["confidence"] == first["confidence"]
    assert first["url"].startswith("http://testserver/products/")
    assert first["id"] != str(catalogue["chelsea"].pk)


def test_similar_products_hide_what_is_under_the_floor_unless_asked(api_client, catalogue):
    url = f"/api/v1/products/{catalogue['chelsea'].pk}/similar/"
    body = api_client.get(url).json()
    assert body["results"] == [] and body["close_match"] is False and body["verdict"] == "not_sold"
    assert len(api_client.get(url + "?min_confidence=0").json()["results"]) == 3
    for bad in ("2", "-0.1", "abc"):
        response = api_client.get(url + f"?min_confidence={bad}")
        assert response.status_code == 400 and response.json()["code"] == "invalid", bad


@pytest.mark.parametrize("path, status", [("999999", 404), ("not-a-number", 404)])
def test_similar_products_unknown_product(api_client, catalogue, path, status):
    response = api_client.get(f"/api/v1/products/{path}/similar/")
    assert response.status_code == status and response.json()["code"] == "not_found"


def test_similar_products_rejects_a_huge_k(api_client, catalogue):
    response = api_client.get(f"/api/v1/products/{catalogue['chelsea'].pk}/similar/?k=100000")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "k" in response.json()["errors"]


def test_search_by_image_finds_the_product(api_client, catalogue):
    response = api_client.post(SEARCH_URL, {"image": upload(photo_bytes("coffee", quality=70)), "k": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["title"] == "coffee" and results[0]["score"] > 0.9


@pytest.mark.parametrize(
    "data, name, expected_status, code",
    [
        (photo_bytes("chelsea")[:3000], "truncated.jpg", 400, "corrupt"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "fake.png", 415, "unsupported_format"),
        (b"GIF89a<script>alert(1)</script>", "x.gif", 415, "unsupported_format"),
        (b"%PDF-1.4 not an image", "doc.pdf", 415, "unsupported_format"),
        (photo_bytes("chelsea", fmt="PPM"), "photo.ppm", 415, "unsupported_format"),
    ],
)
def test_search_by_image_rejects_bad_uploads(api_client, catalogue, data, name, expected_status, code):
    response = api_client.post(SEARCH_URL, {"image": upload(data, name)})
    assert response.status_code == expected_status
    assert response.json()["code"] == code
    assert response.json()["detail"]


def test_search_by_image_rejects_a_decompression_bomb(api_client, catalogue):
    response = api_client.post(SEARCH_URL, {"image": upload(bomb_png(), "bomb.png", "image/png")})
    assert response.status_code == 422
    assert response.json()["code"] == "too_many_pixels"


def test_search_by_image_rejects_an_oversized_upload(api_client, catalogue, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "MAX_IMAGE_BYTES": 20_000}
    response = api_client.post(SEARCH_URL, {"image": upload(photo_bytes("astronaut"))})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_search_by_image_needs_a_file(api_client, catalogue):
    response = api_client.post(SEARCH_URL, {})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "image" in response.json()["errors"]


def test_search_page_get_and_post(client, catalogue):
    url = reverse("visual_search:search")
    assert client.get(url).status_code == 200
    response = client.post(url, {"image": upload(photo_bytes("rocket"))})
    assert response.status_code == 200
    html = response.content.decode()
    assert "similar product" in html and "rocket" in html
    assert "chelsea" not in html[: html.index("rocket")]  # the page lists only close matches, rocket first


def test_a_saturated_decoder_answers_busy_with_retry_after(api_client, client, catalogue, monkeypatch):
    import visual_search.images as images  # noqa: PLC0415

    monkeypatch.setattr(images, "BUDGET_WAIT_SECONDS", 0.1)
    total = int(images._setting("DECODE_MEMORY_BUDGET", None))
    with images._budget.reserve(total, total):  # another request holds the whole decode budget
        api = api_client.post(SEARCH_URL, {"image": upload(photo_bytes("coffee"))})
        page = client.post(reverse("visual_search:search"), {"image": upload(photo_bytes("coffee"))})
    assert (api.status_code, api.json()["code"], api["Retry-After"]) == (503, "busy", "5")
    assert (page.status_code, page["Retry-After"]) == (503, "5")
    assert "too many images" in page.content.decode()
    after = api_client.post(SEARCH_URL, {"image": upload(photo_bytes("coffee"))})
    assert after.status_code == 200 and "Retry-After" not in after


def test_search_page_explains_a_bad_upload(client, catalogue):
    response = client.post(reverse("visual_search:search"), {"image": upload(b"garbage", "x.jpg")})
    assert response.status_code == 415
    assert "accepted format" in response.content.decode()


def test_product_page_shows_the_similar_products_carousel(client, catalogue, make_product):
    """Only products over the floor; a product with none close gets no carousel at all."""
    html = client.get(catalogue["chelsea"].get_absolute_url()).content.decode()
    assert "Visually similar" not in html and "data-vs-carousel" not in html  # a coffee cup is not like a cat
    photo = Image.open(io.BytesIO(photo_bytes("chelsea")))
    buffer = io.BytesIO()
    photo.crop((20, 10, photo.width - 30, photo.height - 20)).save(buffer, format="JPEG", quality=70)
    copy = make_product(buffer.getvalue(), name="chelsea again")
    sync_products([copy.pk])
    response = client.get(catalogue["chelsea"].get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "Visually similar" in html and 'data-vs-confidence="' in html
    assert copy.get_absolute_url() in html and catalogue["coffee"].get_absolute_url() not in html


def test_search_page_works_without_the_demo_templates(client, catalogue, settings):
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "BASE_TEMPLATE": "visual_search/base.html"}
    html = client.get(reverse("visual_search:search")).content.decode()
    assert "<title>Search by photo</title>" in html
    assert "Visual Search Demo Shop" not in html


DEMO_PHOTOS = Path(__file__).resolve().parents[2] / "shop" / "demo_photos"


@pytest.fixture
def demo_catalogue(make_product):
    """Three real clothing photos of each class from the demo's committed photos."""
    if not DEMO_PHOTOS.is_dir():
        pytest.skip("shop/demo_photos is not in this checkout")
    paths = [p for d in sorted(DEMO_PHOTOS.iterdir()) if d.is_dir() for p in sorted(d.glob("*.jpg"))[:3]]
    products = [make_product(p.read_bytes(), name=f"{p.parent.name} {p.stem}") for p in paths]
    sync_products([p.pk for p in products])
    return paths, products


def test_close_match_for_a_copy_and_not_for_off_catalogue_photos(api_client, demo_catalogue):
    paths, products = demo_catalogue
    photo = Image.open(paths[4]).convert("RGB")
    w, h = photo.size
    buffer = io.BytesIO()
    photo.crop((w // 10, h // 10, w - w // 10, h - h // 10)).resize((w * 2 // 3, h * 2 // 3)).save(
        buffer, format="JPEG", quality=60
    )
    body = api_client.post(SEARCH_URL, {"image": upload(buffer.getvalue()), "k": 3}).json()
    assert body["close_match"] is True
    assert body["results"][0]["title"] == products[4].name and body["results"][0]["relevance"] != "not_close"
    for name in ("chelsea", "coffee", "rocket"):
        body = api_client.post(SEARCH_URL, {"image": upload(photo_bytes(name)), "k": 3}).json()
        assert body["close_match"] is False, (name, body["results"][0]["score"])
        assert len(body["results"]) == 3  # the nearest items are still returned, marked not_close
        assert body["verdict"] in ("closest", "not_sold") and body["confidence"] < 0.5
