"""What the TensorFlow encoders share: a leaner import, and pixels prepared ahead of inference."""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from visual_search.encoders.base import l2_normalize, to_batch

__all__ = ["PreparedPixels", "import_tensorflow"]

# Imported by Keras only for its plotting helpers (keras.visualization), never used here:
# matplotlib.pyplot alone adds about 25 MiB to every process that loads a model.
_NOT_NEEDED = ("matplotlib",)
_import_lock = threading.Lock()


class _Skip(importlib.abc.MetaPathFinder):
    """Refuses ``_NOT_NEEDED`` packages, only in the thread that is importing TensorFlow."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in _NOT_NEEDED and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"{name} is not loaded alongside a visual_search encoder", name=name)
        return None


def import_tensorflow() -> Any:
    """Import and return ``tensorflow`` (Keras too), without the optional packages Keras would pull in.

    Keras imports them inside ``try``/``except ImportError`` and simply goes without;
    other threads, and later imports in this one, get them as usual.
    """
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return sys.modules["tensorflow"]
    with _import_lock:
        skip = _Skip()
        sys.meta_path.insert(0, skip)
        try:
            import keras  # noqa: F401, PLC0415 - loads TensorFlow, its backend
            import tensorflow  # noqa: PLC0415
        finally:
            sys.meta_path.remove(skip)
    return tensorflow


class PreparedPixels:
    """Splits ``embed`` into ``prepare`` (one image to the network's input) and ``embed_prepared``.

    A worker prepares each image in its decoding threads, right after decoding, and
    keeps only the network's input (224 x 224 x 3 bytes, 150 KiB) instead of the
    decoded photo (about 0.8 MiB for 400 x 533); the vectors are the same as ``embed``'s.
    """

    input_size: int
    dimensions: int
    crop_fraction: float
    _features: Callable[[np.ndarray], Any]

    def _forward(self, pixels: np.ndarray) -> np.ndarray:
        """Raw features for a ``(n, size, size, 3)`` uint8 batch; a backend may run it another way."""
        return self._features(pixels).numpy()

    def prepare(self, image: Image.Image) -> np.ndarray:
        """The ``(input_size, input_size, 3)`` uint8 array ``embed`` would feed the network for ``image``."""
        return to_batch([image], self.input_size, self.crop_fraction)[0]

    def embed_prepared(self, pixels: Sequence[np.ndarray], *, batch_size: int | None = None) -> np.ndarray:
        """Unit-length vectors for arrays from ``prepare``, in forward passes of ``batch_size``."""
        def forward(chunk: Sequence[np.ndarray]) -> np.ndarray:
            return self._forward(np.stack(chunk))

        vectors = l2_normalize(self._in_batches(forward, pixels, self.dimensions, batch_size))
        if vectors.shape != (len(pixels), self.dimensions):
            raise RuntimeError(f"{self!r} produced vectors of shape {vectors.shape}.")
        return vectors
