"""Encoders around Keras models: a ``keras.applications`` network or a saved ``.keras`` file."""

from __future__ import annotations

import abc
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

from visual_search.encoders.base import Encoder, to_batch
from visual_search.encoders.tensorflow_support import PreparedPixels, import_tensorflow

__all__ = ["KerasApplicationEncoder", "SavedKerasModelEncoder"]

# Pooled feature width and native input size, so checks need not build the model.
KNOWN_APPLICATIONS: dict[str, tuple[int, int]] = {
    "ConvNeXtTiny": (768, 224),
    "ConvNeXtSmall": (768, 224),
    "ConvNeXtBase": (1024, 224),
    "DenseNet121": (1024, 224),
    "EfficientNetB0": (1280, 224),
    "EfficientNetB1": (1280, 240),
    "EfficientNetB2": (1408, 260),
    "EfficientNetB3": (1536, 300),
    "EfficientNetV2B0": (1280, 224),
    "EfficientNetV2S": (1280, 384),
    "InceptionV3": (2048, 299),
    "MobileNet": (1024, 224),
    "MobileNetV2": (1280, 224),
    "MobileNetV3Small": (576, 224),
    "MobileNetV3Large": (960, 224),
    "ResNet50": (2048, 224),
    "ResNet101": (2048, 224),
    "ResNet50V2": (2048, 224),
    "VGG16": (512, 224),
    "Xception": (2048, 299),
}
PREPROCESS_MODES = ("tf", "caffe", "torch", "raw")
# The centred 224/256 of the short side, as ImageNet evaluation crops.
CROP_FRACTION = 0.875


class _KerasEncoder(PreparedPixels, Encoder):
    """Shared serving path: one ``tf.function`` per process, spatial maps average-pooled."""

    version = "1"
    input_size: int
    crop_fraction = CROP_FRACTION

    @abc.abstractmethod
    def _build(self) -> tuple[Any, Any]:
        """Return ``(model, preprocess)``, where ``preprocess`` maps 0-255 RGB to the model's input."""

    def _load(self) -> None:
        tf = import_tensorflow()  # never at import time

        model, preprocess = self._build()
        width = model.output_shape[-1]
        if len(model.output_shape) not in (2, 4) or width != self.dimensions:
            raise ImproperlyConfigured(
                f"{self.id}: the model outputs {model.output_shape}; {self.dimensions} dimensions were declared."
            )

        # A fixed signature means one trace for every batch size.
        @tf.function(input_signature=[tf.TensorSpec((None, self.input_size, self.input_size, 3), tf.uint8)])
        def features(pixels: Any) -> Any:
            output = model(preprocess(tf.cast(pixels, tf.float32)), training=False)
            return tf.reduce_mean(output, axis=(1, 2)) if len(output.shape) == 4 else output

        self._features = features

    def _embed_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._features(to_batch(images, self.input_size, CROP_FRACTION)).numpy()


class KerasApplicationEncoder(_KerasEncoder):
    """A ``keras.applications`` network without its classifier, average-pooled, with its own preprocessing."""

    def __init__(
        self,
        model: str = "ResNet50",
        input_size: int | None = None,
        weights: str | None = "imagenet",
        dimensions: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        known_dimensions, known_size = KNOWN_APPLICATIONS.get(model, (None, 224))
        self.dimensions = dimensions or known_dimensions
        if self.dimensions is None:
            raise ImproperlyConfigured(f"Give the 'dimensions' option for keras.applications.{model}.")
        self.model_name, self.weights = model, weights
        self.input_size = input_size or known_size
        # Vectors are comparable only under the same weights, so the id names them.
        if weights == "imagenet":
            self.id = f"keras-{model.lower()}"
        else:  # "x.weights.h5" -> "x"
            self.id = f"keras-{model.lower()}-" + ("untrained" if weights is None else Path(weights).name.split(".")[0])

    def _build(self) -> tuple[Any, Any]:
        import keras  # noqa: PLC0415

        try:
            constructor = getattr(keras.applications, self.model_name)
        except AttributeError:
            raise ImproperlyConfigured(f"keras.applications has no model {self.model_name!r}.") from None
        size = self.input_size
        model = constructor(include_top=False, pooling="avg", weights=self.weights, input_shape=(size, size, 3))
        # Each family defines preprocess_input next to its constructor (caffe, tf or torch scaling).
        return model, importlib.import_module(constructor.__module__).preprocess_input


class SavedKerasModelEncoder(_KerasEncoder):
    """A model saved with ``model.save("x.keras")``; 4-D outputs are average-pooled."""

    def __init__(
        self,
        path: str,
        dimensions: int,
        input_size: int = 224,
        preprocess: str = "tf",
        id: str | None = None,  # noqa: A002 - mirrors the Encoder attribute
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if preprocess not in PREPROCESS_MODES:
            raise ImproperlyConfigured(f"preprocess must be one of {', '.join(PREPROCESS_MODES)}.")
        self.path, self.dimensions, self.input_size, self.preprocess = path, int(dimensions), input_size, preprocess
        self.id = id or f"keras-{Path(path).stem}"

    def _build(self) -> tuple[Any, Any]:
        import keras  # noqa: PLC0415
        from keras.applications import imagenet_utils  # noqa: PLC0415

        # safe_mode (the default) refuses Lambda layers, which would run pickled code.
        model = keras.saving.load_model(self.path, compile=False, safe_mode=True)
        if self.preprocess == "raw":
            return model, lambda pixels: pixels
        return model, lambda pixels: imagenet_utils.preprocess_input(pixels, mode=self.preprocess)
