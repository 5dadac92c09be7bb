"""Keras backends, offline: an untrained keras.applications network and a saved .keras round trip."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from PIL import Image
from skimage import data

from visual_search.encoders.base import l2_normalize, to_batch
from visual_search.encoders.keras_applications import (
    CROP_FRACTION,
    KerasApplicationEncoder,
    SavedKerasModelEncoder,
)

IMAGES = [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee()), Image.fromarray(data.camera())]


@pytest.fixture(scope="module")
def mobilenet() -> KerasApplicationEncoder:
    return KerasApplicationEncoder(model="MobileNetV3Small", weights=None, input_size=96)


def test_identity_comes_from_model_and_weights_without_loading():
    assert (KerasApplicationEncoder().id, KerasApplicationEncoder().dimensions) == ("keras-resnet50", 2048)
    assert KerasApplicationEncoder(model="Xception").input_size == 299
    assert KerasApplicationEncoder(model="MobileNetV3Small", weights=None).id == "keras-mobilenetv3small-untrained"
    tuned = KerasApplicationEncoder(model="ResNet50", weights="/w/shop-tuned.weights.h5")
    assert tuned.id == "keras-resnet50-shop-tuned"
    with pytest.raises(ImproperlyConfigured, match="dimensions"):
        KerasApplicationEncoder(model="SomeNewNet")


def test_application_embeds_unit_rows_whatever_the_batching(mobilenet):
    vectors = mobilenet.embed(IMAGES, batch_size=2)
    assert (vectors.shape, vectors.dtype) == ((3, 576), np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(mobilenet.embed(IMAGES, batch_size=1), vectors, atol=1e-5)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"model": "NoSuchNet", "dimensions": 8}, "has no model"),
        ({"model": "MobileNetV3Small", "dimensions": 100}, "100 dimensions were declared"),
    ],
)
def test_application_misconfiguration_fails_at_load(options, message):
    encoder = KerasApplicationEncoder(weights=None, input_size=64, **options)
    with pytest.raises(ImproperlyConfigured, match=message):
        encoder.embed(IMAGES[:1], batch_size=1)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[str, str]:
    import keras  # noqa: PLC0415

    inputs = keras.Input((32, 32, 3))
    feature_map = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    pooled = keras.layers.Dense(16)(keras.layers.GlobalAveragePooling2D()(feature_map))
    folder = tmp_path_factory.mktemp("keras")
    paths = {}
    for name, output in (("pooled", pooled), ("spatial", feature_map)):
        paths[name] = str(folder / f"{name}.keras")
        keras.Model(inputs, output).save(paths[name])
    return paths


@pytest.mark.parametrize("preprocess", ["raw", "tf", "caffe", "torch"])
def test_saved_model_round_trip(saved_models, preprocess):
    import keras  # noqa: PLC0415
    from keras.applications import imagenet_utils  # noqa: PLC0415

    encoder = SavedKerasModelEncoder(path=saved_models["pooled"], dimensions=16, input_size=32, preprocess=preprocess)
    pixels = to_batch(IMAGES, 32, CROP_FRACTION).astype(np.float32)
    model_input = pixels if preprocess == "raw" else imagenet_utils.preprocess_input(pixels.copy(), mode=preprocess)
    expected = l2_normalize(keras.saving.load_model(saved_models["pooled"])(model_input).numpy())
    assert encoder.id == "keras-pooled"
    assert np.allclose(encoder.embed(IMAGES, batch_size=2), expected, atol=1e-5)


def test_saved_model_with_a_feature_map_output_is_average_pooled(saved_models):
    import keras  # noqa: PLC0415

    encoder = SavedKerasModelEncoder(path=saved_models["spatial"], dimensions=8, input_size=32, id="shop-v2")
    pixels = to_batch(IMAGES, 32, CROP_FRACTION) / 127.5 - 1.0
    maps = keras.saving.load_model(saved_models["spatial"])(pixels).numpy()
    assert encoder.id == "shop-v2"
    assert np.allclose(encoder.embed(IMAGES, batch_size=3), l2_normalize(maps.mean(axis=(1, 2))), atol=1e-5)


def test_saved_model_misconfiguration(saved_models):
    with pytest.raises(ImproperlyConfigured, match="preprocess"):
        SavedKerasModelEncoder(path=saved_models["pooled"], dimensions=16, preprocess="bgr")
    wrong_width = SavedKerasModelEncoder(path=saved_models["pooled"], dimensions=15, input_size=32)
    with pytest.raises(ImproperlyConfigured, match="15 dimensions were declared"):
        wrong_width.embed(IMAGES[:1], batch_size=1)
