"""Regional pooling: the global part is the stock encoder's vector, the cells see different regions."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import photo_bytes
from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder
from visual_search.encoders.regional import RegionalEfficientNetLiteEncoder
from visual_search.images import open_image


def test_global_part_matches_the_stock_encoder_and_cells_differ():
    images = [open_image(photo_bytes(name)) for name in ("chelsea", "astronaut")]
    encoder = RegionalEfficientNetLiteEncoder()
    assert (encoder.id, encoder.dimensions) == ("efficientnet-lite0-regional2", 6400)
    vectors = encoder.embed(images)
    parts = vectors.reshape(2, 5, 1280) * np.sqrt(5)  # five unit-length parts in one unit vector
    np.testing.assert_allclose(np.linalg.norm(parts, axis=2), 1.0, rtol=1e-4)
    stock = EfficientNetLiteEncoder().embed(images)
    np.testing.assert_allclose((parts[:, 0] * stock).sum(axis=1), 1.0, atol=1e-4)
    cells = parts[0, 1:]
    assert (cells @ cells.T)[np.triu_indices(4, 1)].max() < 0.99  # four regions, four different vectors
    with pytest.raises(ImproperlyConfigured):
        RegionalEfficientNetLiteEncoder(pooling="gem")
