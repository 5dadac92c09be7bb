"""EfficientNet-Lite with INT8 weights and activations, run by TensorFlow Lite (XNNPACK).

The float Keras network is converted once (this needs TensorFlow) with post-training full-integer
quantisation (``tf.lite.TFLiteConverter``; activations calibrated on
representative photos) and cached as a ``.tflite`` file keyed by variant and
calibration set, so a worker converts at most once per machine. The float
encoder's preprocessing and pooling are kept; only the network runs in INT8.
Serving needs no TensorFlow when ``ai-edge-litert`` is installed.
Measured against the float encoder in docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visual_search.encoders import tflite_runtime
from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder, build_network
from visual_search.encoders.torch_checkpoint import load_state_dict

__all__ = ["QuantisedEfficientNetLiteEncoder", "convert"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
CALIBRATION_LIMIT = 200  # photos fed to the converter's representative dataset


def _calibration_photos(folder: str | None) -> list[Image.Image]:
    """Representative photos: up to 200 from ``folder`` (recursively), else scikit-image's sample photos."""
    if folder:
        paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        step = max(1, len(paths) // CALIBRATION_LIMIT)  # spread over every sub-folder, not the first few
        photos = []
        for path in paths[::step][:CALIBRATION_LIMIT]:
            with Image.open(path) as image:
                photos.append(image.convert("RGB"))
        return photos
    from skimage import data  # noqa: PLC0415 - ships real photos with the package
    from skimage.util import img_as_ubyte  # noqa: PLC0415

    names = ["astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "horse", "moon", "hubble_deep_field",
             "immunohistochemistry", "page", "retina", "text", "brick", "grass", "gravel"]
    photos = []
    for name in names:
        array = img_as_ubyte(getattr(data, name)())  # some are boolean or float masks
        image = Image.fromarray(array if array.ndim == 3 else np.stack([array] * 3, axis=-1)).convert("RGB")
        photos += [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return photos


def convert(encoder: EfficientNetLiteEncoder, calibration: Sequence[Image.Image]) -> bytes:
    """The INT8 TF Lite model of ``encoder``'s network (scaled pixels in, pooled features out)."""
    import tensorflow as tf  # noqa: PLC0415 - TensorFlow loads only when converting

    size = encoder.input_size
    backbone, _ = build_network(load_state_dict(encoder.checkpoint_path()), size)

    # A concrete function, not from_keras_model: the latter does not support Keras 3 models.
    @tf.function(input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
    def features(scaled_pixels: Any) -> Any:
        return tf.reduce_mean(backbone(scaled_pixels, training=False), axis=(1, 2))

    batches = [encoder._scaled(encoder._pixels([image])) for image in calibration]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([features.get_concrete_function()], backbone)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([batch] for batch in batches)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # Float in and out: the encoder hands scaled pixels and reads features as the float one does.
    return converter.convert()


class QuantisedEfficientNetLiteEncoder(EfficientNetLiteEncoder):
    """The EfficientNet-Lite features through an INT8 TF Lite model (``avg`` pooling only)."""

    version = "1"

    def __init__(
        self,
        variant: str = "lite0",
        model_dir: str | None = None,
        calibration_images: str | None = None,
        num_threads: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(variant=variant, pooling="avg", model_dir=model_dir, num_threads=num_threads, **options)
        self.id = f"efficientnet-{variant}-int8"
        if calibration_images:  # another calibration quantises differently: its vectors get their own id
            self.id += "-" + hashlib.sha1(str(Path(calibration_images).resolve()).encode()).hexdigest()[:6]
        self.calibration_images = calibration_images

    def model_path(self) -> Path:
        """The cached ``.tflite`` file; its name changes with the calibration set, so a new set converts anew."""
        key = hashlib.sha1(f"{self.variant}:{self.calibration_images or 'skimage'}:{self.version}".encode())
        folder = Path(self.model_dir) if self.model_dir else tflite_runtime.default_model_dir()
        return folder / f"efficientnet-{self.variant}-int8-{key.hexdigest()[:10]}.tflite"

    def _load(self) -> None:
        model = tflite_runtime.cached_model(
            self.model_path(), lambda: convert(self, _calibration_photos(self.calibration_images))
        )
        self._network = tflite_runtime.SharedInterpreter(model, self.num_threads)

    @staticmethod
    def _scaled(pixels: np.ndarray) -> np.ndarray:
        return (pixels.astype(np.float32) - 127.0) / 128.0  # as the float encoder scales inside its graph

    def _forward(self, pixels: np.ndarray) -> np.ndarray:
        return self._network.run(self._scaled(pixels))
