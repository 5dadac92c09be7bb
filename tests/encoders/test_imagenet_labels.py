"""Naming a photo with the checkpoint's own ImageNet layer, on the features its embedding came from."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.conftest import ROOT
from visual_search.encoders.adapted import AdaptedEncoder
from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder
from visual_search.encoders.imagenet import ImageNetClassifier, class_names
from visual_search.encoders.thumbnail import ThumbnailEncoder

CATS = {"tabby", "tiger cat", "Egyptian cat"}
CLOTHING = Path(ROOT.parent / "shared" / "datasets" / "clothing-small" / "test")
DEMO_HEAD = ROOT / "shop" / "encoder" / "clothing-lite0-v1.npz"


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)())


@pytest.fixture(scope="module", params=["tflite", "keras"])
def encoder(request) -> EfficientNetLiteEncoder:
    return EfficientNetLiteEncoder(runtime=request.param)


def test_the_class_names_ship_with_the_package_in_imagenet_order():
    names = class_names()
    assert len(names) == len(set(names)) == 1000
    assert (names[0], names[281], names[967], names[999]) == ("tench", "tabby", "espresso", "toilet tissue")


def test_real_photos_are_named_from_the_features_of_their_embedding(encoder):
    images = [photo(name) for name in ("chelsea", "coffee", "rocket")]
    vectors, features = encoder.embed_with_features(images)
    np.testing.assert_allclose(vectors, encoder.embed(images), atol=1e-6)  # the same pass, the same vectors
    assert encoder.describes
    cat, coffee, rocket = (row[0] for row in encoder.describe(features))
    assert cat.name in CATS
    assert (coffee.name, coffee.index) == ("espresso", 967) and coffee.probability > 0.5
    assert rocket.name in {"missile", "projectile", "space shuttle"}
    # Exactly the network's classifier: the logits Keras computes end to end, from pixels.
    logits = encoder.imagenet_classifier().logits(features)
    np.testing.assert_allclose(logits, encoder.classify(images), atol=1e-3)


def test_top_labels_come_most_probable_first():
    encoder = EfficientNetLiteEncoder()
    _, features = encoder.embed_with_features([photo("coffee")])
    [top] = encoder.describe(features, top=3)
    assert [label.name for label in top][:2] == ["espresso", "cup"]
    probabilities = [label.probability for label in top]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0


@pytest.mark.skipif(not CLOTHING.is_dir(), reason=f"{CLOTHING} absent")
@pytest.mark.parametrize("folder, expected", [
    ("shoes", {"sandal", "Loafer", "cowboy boot", "clog", "running shoe", "sock"}),
    ("t-shirt", {"jersey", "sweatshirt"}),
])
def test_clothing_photos_are_named_as_clothing(folder, expected):
    encoder = EfficientNetLiteEncoder()
    paths = sorted((CLOTHING / folder).glob("*.jpg"))[:10]
    _, features = encoder.embed_with_features([Image.open(path).convert("RGB") for path in paths])
    names = collections.Counter(row[0].name for row in encoder.describe(features))
    assert sum(names[name] for name in expected) >= 8, names


def test_an_adapted_encoder_names_photos_through_its_base():
    adapted = AdaptedEncoder(str(DEMO_HEAD))
    assert adapted.describes and adapted.dimensions != adapted.base.dimensions
    images = [photo("coffee"), photo("chelsea")]
    vectors, base_features = adapted.embed_with_features(images)
    np.testing.assert_allclose(vectors, adapted.embed(images), atol=1e-6)
    assert base_features.shape == (2, adapted.base.dimensions)
    coffee, cat = (row[0].name for row in adapted.describe(base_features))
    assert coffee == "espresso" and cat in CATS


def test_encoders_without_a_classifier_name_nothing():
    gem = EfficientNetLiteEncoder(pooling="gem")  # GeM pools numbers the ImageNet layer never saw
    thumbnail = ThumbnailEncoder()
    assert not gem.describes and not thumbnail.describes
    _, features = thumbnail.embed_with_features([photo("coffee")])
    assert thumbnail.describe(features) == [[]] and gem.describe(np.ones((2, 1280), np.float32)) == [[], []]


def test_a_classifier_that_is_not_imagenet_1k_is_refused():
    with pytest.raises(ValueError, match="Not an ImageNet-1k layer"):
        ImageNetClassifier(np.zeros((10, 1280), np.float32), np.zeros(10, np.float32))
