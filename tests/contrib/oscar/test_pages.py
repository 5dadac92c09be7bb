"""The search page in Oscar's layout, the carousel on Oscar's product page, real-encoder similarity."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.conftest import photo_bytes
from visual_search.search.service import similar_products

pytestmark = pytest.mark.django_db


def template_names(response) -> list[str]:
    return [t.name for t in response.templates]


def cropped_photo(name: str) -> bytes:
    """The photo cropped to its central 80% and re-encoded: the same subject, other bytes."""
    image = Image.open(io.BytesIO(photo_bytes(name)))
    w, h = image.size
    buffer = io.BytesIO()
    image.crop((w // 10, h // 10, w - w // 10, h - h // 10)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def test_similar_products_with_the_real_encoder(make_product):
    """The default EfficientNet-Lite0 encoder: a crop of the cat is nearest the cat, the coffee cup is not."""
    cat = make_product("Cat print", photos=("chelsea",))
    cat_crop = make_product("Cat print, cropped", photos=(cropped_photo("chelsea"),))
    cup = make_product("Coffee cup", photos=("coffee",))
    rocket = make_product("Rocket", photos=("rocket",))

    results = similar_products(cat, k=3)
    print({r.product.title: round(r.score, 3) for r in results})
    assert results[0].product == cat_crop
    assert results[0].score - results[1].score > 0.2  # the same cat, well apart from a cup or a rocket
    assert {r.product for r in results[1:]} == {cup, rocket}
    assert similar_products(cat_crop, k=1)[0].product == cat


@pytest.mark.usefixtures("thumbnail_encoder")
def test_search_page_renders_in_oscars_layout(client):
    response = client.get("/visual-search/")
    assert response.status_code == 200
    names = template_names(response)
    assert "visual_search_oscar/layout.html" in names
    assert "oscar/layout.html" in names
    html = response.content.decode()
    assert 'class="breadcrumb"' in html and "Search by photo" in html
    assert "oscar/css/styles.css" in html  # Oscar's stylesheet, its navigation and basket around the form
    assert 'type="file"' in html


@pytest.mark.usefixtures("thumbnail_encoder")
def test_search_by_photo_shows_oscar_products_with_thumbnails(client, make_product, settings):
    cat = make_product("Cat print", photos=("chelsea",))
    make_product("Coffee cup", photos=("coffee",))

    upload = SimpleUploadedFile("query.jpg", cropped_photo("chelsea"), content_type="image/jpeg")
    response = client.post("/visual-search/", {"image": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert "oscar/layout.html" in template_names(response)
    assert html.index("Cat print") < html.index("Coffee cup")
    assert cat.get_absolute_url() in html
    assert f'src="{settings.MEDIA_URL}cache/' in html  # sorl thumbnails through Oscar's thumbnailer
    assert cat.images.get().original.url not in html  # never the full-size original


@pytest.mark.usefixtures("thumbnail_encoder")
def test_oscars_product_page_shows_visually_similar_products(client, make_product, settings):
    cat = make_product("Cat print", photos=("chelsea",))
    crop = make_product("Cat print, cropped", photos=(cropped_photo("chelsea"),))

    response = client.get(cat.get_absolute_url())
    assert response.status_code == 200
    names = template_names(response)
    assert names.count("oscar/catalogue/detail.html") == 2  # the app's override extends Oscar's own
    assert "visual_search_oscar/similar_products.html" in names
    html = response.content.decode()
    carousel = html[html.index("Visually similar"):]
    assert crop.get_absolute_url() in carousel and "Cat print, cropped" in carousel
    assert f"{settings.MEDIA_URL}cache/" in carousel
    assert crop.images.get().original.url not in carousel


@pytest.mark.usefixtures("thumbnail_encoder")
def test_a_basket_add_after_a_search_click_is_recorded(client, make_product):
    """Oscar's own add-to-basket view sends basket_addition; the contrib ties it to the search clicked."""
    from visual_search.analytics.models import Interaction, SearchEvent  # noqa: PLC0415
    from visual_search.analytics.tokens import make_token  # noqa: PLC0415

    cat = make_product("Cat print", photos=("chelsea",))
    make_product("Coffee cup", photos=("coffee",))
    upload = SimpleUploadedFile("query.jpg", cropped_photo("chelsea"), content_type="image/jpeg")
    assert client.post("/visual-search/", {"image": upload}).status_code == 200
    event = SearchEvent.objects.get()
    assert event.results[0][0] == str(cat.pk)
    assert client.post(f"/visual-search/click/{make_token(event.pk, cat.pk, 1)}/").status_code == 204
    added = client.post(f"/basket/add/{cat.pk}/", {"quantity": 1})
    assert added.status_code == 302
    kinds = sorted(Interaction.objects.filter(event=event, product=str(cat.pk)).values_list("kind", flat=True))
    assert kinds == ["basket", "click"]
