"""ThumbnailEncoder and the Encoder base class it shares: batching, normalisation, cropping."""

from __future__ import annotations

import numpy as np
import pytest
from django.test import override_settings
from PIL import Image
from skimage import data

from visual_search.encoders.base import center_crop_resize, l2_normalize
from visual_search.encoders.thumbnail import ThumbnailEncoder

PHOTOS = {name: Image.fromarray(getattr(data, name)()) for name in ("chelsea", "coffee", "astronaut", "camera")}


def test_vectors_are_deterministic_unit_rows():
    encoder = ThumbnailEncoder()
    vectors = encoder.embed(list(PHOTOS.values()), batch_size=3)
    assert (encoder.id, encoder.version, vectors.shape, vectors.dtype) == ("thumbnail", "1", (4, 256), np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(ThumbnailEncoder().embed(list(PHOTOS.values()), batch_size=1), vectors)
    assert ThumbnailEncoder().embed([]).shape == (0, 256)


def test_flat_images_still_get_a_usable_vector():
    # A zero vector would make cosine distance NaN in pgvector.
    vectors = ThumbnailEncoder().embed([Image.new("RGB", (50, 50)), Image.new("L", (9, 9), 255)], batch_size=2)
    assert np.all(np.isfinite(vectors))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_same_photo_scores_higher_than_other_photos():
    chelsea = PHOTOS["chelsea"]
    half = chelsea.resize((chelsea.width // 2, chelsea.height // 2))
    vectors = ThumbnailEncoder().embed([chelsea, half, *list(PHOTOS.values())[1:]], batch_size=8)
    cosines = vectors[1:] @ vectors[0]
    assert cosines[0] >= 0.99
    assert cosines[1:].max() <= cosines[0] - 0.2


def test_batches_follow_the_batch_size_setting(monkeypatch):
    encoder, sizes = ThumbnailEncoder(), []
    original = encoder._embed_batch
    monkeypatch.setattr(encoder, "_embed_batch", lambda batch: sizes.append(len(batch)) or original(batch))
    with override_settings(VISUAL_SEARCH={"BATCH_SIZE": 2}):
        assert encoder.embed([PHOTOS["camera"]] * 5).shape == (5, 256)
    assert sizes == [2, 2, 1]


def test_unknown_options_are_an_error():
    with pytest.raises(TypeError, match="size"):
        ThumbnailEncoder(size=16)


def test_l2_normalize_leaves_zero_rows_finite():
    rows = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    assert np.allclose(rows, [[0.6, 0.8], [0.0, 0.0]])


def test_center_crop_takes_the_middle_of_the_short_side():
    image = Image.new("RGB", (300, 100), "red")
    image.paste((0, 0, 255), (100, 0, 200, 100))  # a blue centre square between red sides
    cropped = center_crop_resize(image, 20, crop_fraction=0.5)
    assert cropped.size == (20, 20)
    assert np.unique(np.asarray(cropped).reshape(-1, 3), axis=0).tolist() == [[0, 0, 255]]
