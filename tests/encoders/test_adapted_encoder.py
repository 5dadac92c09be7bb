"""An adapted encoder configured as ENCODER is served through the real pipeline and the encoder switch."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.test import override_settings

from tests.catalogue import category, make_product  # noqa: F401 - fixtures
from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.indexing.encoder_switch import get_search_encoder
from visual_search.indexing.sync import sync_products
from visual_search.models import ProductImageEmbedding
from visual_search.quality.training import fit_head, save_head
from visual_search.search.service import search_by_image

pytestmark = pytest.mark.django_db

MEAN_COLOUR = "tests.quality.encoders.MeanColourEncoder"


@pytest.fixture
def head(tmp_path):
    # Two labels of mean colours; the head is tiny, the point is how it is served.
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal((1, 0.2, 0.1), 0.05, (20, 3)), rng.normal((0.1, 0.3, 1), 0.05, (20, 3))])
    weights = fit_head(features, np.repeat(["warm", "cold"], 20), dimensions=2, epochs=20, mix=1.0)
    metadata = {"name": "colours", "version": "7",
                "base": {"backend": MEAN_COLOUR, "options": {}, "id": "test-mean-colour", "version": "1"}}
    return save_head(tmp_path / "colours-v7.npz", weights, metadata)


def test_adapted_encoder_embeds_on_sync_and_answers_searches(head, make_product):
    config = {"BACKEND": "visual_search.encoders.adapted.AdaptedEncoder", "OPTIONS": {"head": str(head)}}
    with override_settings(VISUAL_SEARCH={"ADAPTER": "shop.adapters.ShopProductAdapter", "ENCODER": config}):
        encoder = get_encoder()
        assert (encoder.id, encoder.version, encoder.dimensions) == (
            f"test-mean-colour-colours-{encoder.weights_digest}", "7", 3 + 2)
        products = [make_product(name, name=name) for name in ("chelsea", "coffee", "astronaut")]
        sync_products([p.pk for p in products])
        rows = ProductImageEmbedding.objects.for_encoder(encoder).ready()
        assert rows.count() == 3 and {r.encoder_version for r in rows} == {"7"}
        assert len(rows.first().embedding) == 5
        assert get_search_encoder().id == encoder.id
        assert search_by_image(photo_bytes("coffee", quality=70), k=1)[0].product.name == "coffee"


def test_the_head_file_carries_half_precision_weights_and_its_own_similarity_floor(tmp_path, head):
    from visual_search.encoders.adapted import AdaptedEncoder  # noqa: PLC0415
    from visual_search.quality.training import load_head, store_similarity_floor  # noqa: PLC0415

    weights, metadata = load_head(head)
    half = save_head(tmp_path / "half.npz", weights, metadata, float16=True)
    with np.load(half) as data:
        assert data["w"].dtype == np.float16 and data["mix"].dtype == np.float32
    loaded, _ = load_head(half)
    assert loaded["w"].dtype == np.float32
    np.testing.assert_allclose(loaded["w"], weights["w"], rtol=1e-3, atol=1e-3)

    assert AdaptedEncoder(str(half)).similarity_floor == 0.55  # uncalibrated: the default, with a warning
    store_similarity_floor(half, 0.8, {"script": "test"})
    encoder = AdaptedEncoder(str(half))
    assert encoder.similarity_floor == 0.8
    assert encoder.metadata["similarity_floor_calibration"] == {"script": "test"}
    with np.load(half) as data:
        assert data["w"].dtype == np.float16  # storing the floor keeps the arrays as they were


def test_results_apply_the_serving_encoders_floor_unless_the_setting_names_one(head, make_product):
    from visual_search.quality.training import store_similarity_floor  # noqa: PLC0415
    from visual_search.search.results import build_result_page, relevance  # noqa: PLC0415

    store_similarity_floor(head, 0.42, {"script": "test"})
    config = {"BACKEND": "visual_search.encoders.adapted.AdaptedEncoder", "OPTIONS": {"head": str(head)}}
    base = {"ADAPTER": "shop.adapters.ShopProductAdapter", "ENCODER": config}
    with override_settings(VISUAL_SEARCH=base):
        products = [make_product(name, name=name) for name in ("chelsea", "coffee", "astronaut")]
        sync_products([p.pk for p in products])
        page = build_result_page(search_by_image(photo_bytes("coffee", quality=70), k=3))
        assert page.floor == 0.42
        assert [item.relevance for item in page] == [relevance(item.score, 0.42) for item in page]
    for floor in (0.5, 1.0):
        with override_settings(VISUAL_SEARCH={**base, "SIMILARITY_FLOOR": floor}):  # an explicit number wins
            page = build_result_page(search_by_image(photo_bytes("coffee", quality=70), k=3))
            assert page.floor == floor and page.close_match == (page.items[0].score >= floor)


def test_base_options_change_how_the_base_runs_never_its_vectors():
    from django.conf import settings  # noqa: PLC0415
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    from visual_search.encoders.adapted import AdaptedEncoder  # noqa: PLC0415

    demo_head = str(settings.BASE_DIR / "shop" / "encoder" / "clothing-lite0-v1.npz")
    default, keras = AdaptedEncoder(demo_head), AdaptedEncoder(demo_head, base_options={"runtime": "keras"})
    assert (default.base.runtime, keras.base.runtime) == ("tflite", "keras") and default.id == keras.id
    images = [Image.open(io.BytesIO(photo_bytes(name))) for name in ("chelsea", "coffee")]
    np.testing.assert_allclose(default.embed(images), keras.embed(images), atol=1e-4)
    with pytest.raises(ImproperlyConfigured, match="was fitted on efficientnet-lite0"):
        AdaptedEncoder(demo_head, base_options={"pooling": "gem"})  # another vector space
