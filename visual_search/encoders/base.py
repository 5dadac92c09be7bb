"""The ``Encoder`` interface and the helpers its backends share."""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from visual_search.images import to_rgb

if TYPE_CHECKING:
    from visual_search.encoders.imagenet import ImageLabel

__all__ = ["Encoder", "center_crop_resize", "l2_normalize", "to_batch"]


class Encoder(abc.ABC):
    """Turns PIL images into L2-normalised float32 vectors of a fixed size.

    ``id`` and ``version`` identify the vector space: two vectors are
    comparable only if both match. ``dimensions`` must be known without
    loading a model, because system checks and schema code read it.
    """

    id: str
    version: str
    dimensions: int
    #: Cosine similarity below which a best match is "not a close match" until the catalogue is calibrated
    #: (``visual_search_calibrate``, whose floor then wins); measured for this vector space by
    #: ``benchmarks/similarity_floor.py``; ``VISUAL_SEARCH["SIMILARITY_FLOOR"]`` overrides both.
    #: 0.55 was measured for EfficientNet-Lite0 (the default encoder); other spaces need their own run.
    similarity_floor: float = 0.55
    #: Whether ``describe()`` names what an image shows (an ImageNet classifier on this encoder's features).
    describes: bool = False

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} got unknown options: {', '.join(sorted(options))}")
        self._load_lock = threading.Lock()
        self._loaded = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} v{self.version} ({self.dimensions}-d)>"

    @property
    def decode_size(self) -> int:
        """The short side a photo decodes to (JPEG draft, else a box shrink) before this encoder crops it.

        Its input size plus the 32 pixels a 224/256-style centre crop drops; catalogue photos
        (``sync``) and query photos (``search``) both decode to it, so they resample alike.
        """
        return int(getattr(self, "input_size", 224) or 224) + 32

    def load(self) -> None:
        """Build the model once; safe to call repeatedly and from several threads."""
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _load(self) -> None:
        """Do the expensive part of ``load()``; backends without a model keep this no-op."""

    def embed(self, images: Sequence[Image.Image], *, batch_size: int | None = None) -> np.ndarray:
        """Return an ``(len(images), dimensions)`` float32 array of unit-length rows."""
        return self.embed_with_features(images, batch_size=batch_size)[0]

    def embed_with_features(
        self, images: Sequence[Image.Image], *, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``embed()``'s vectors and, from the same forward pass, the features ``describe()`` reads.

        Here the raw rows the vectors are normalised from; an encoder whose vectors are not what
        its classifier reads (an adapted head) returns what the classifier reads instead.
        """
        features = self._in_batches(self._embed_batch, images, self.dimensions, batch_size)
        return self._checked(l2_normalize(features), len(images)), features

    def describe(self, features: np.ndarray, *, top: int = 1) -> list[list[ImageLabel]]:
        """The ``top`` ImageNet classes of each row of ``features`` (from ``embed_with_features``).

        An encoder without a classifier (``describes`` False) names nothing: an empty list per row.
        """
        return [[] for _ in range(len(features))]

    def _checked(self, vectors: np.ndarray, count: int) -> np.ndarray:
        if vectors.shape != (count, self.dimensions):
            raise RuntimeError(f"{self!r} produced vectors of shape {vectors.shape}.")
        return vectors

    def embed_with_content(
        self, images: Sequence[Image.Image], *, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``embed()``'s vectors and, from the same pass, ``class_probabilities`` of each image (or None)."""
        vectors, features = self.embed_with_features(images, batch_size=batch_size)
        return vectors, self.class_probabilities(features)

    def class_probabilities(self, features: np.ndarray) -> np.ndarray | None:
        """``(n, 1000)`` ImageNet class probabilities of rows of ``features`` (from ``embed_with_features``).

        None from an encoder without a classifier. The calibration's content check reads them
        (``search/confidence.py``).
        """
        return None

    def _in_batches(
        self,
        function: Callable[[Sequence[Image.Image]], np.ndarray],
        images: Sequence[Image.Image],
        width: int,
        batch_size: int | None,
    ) -> np.ndarray:
        """Apply ``function`` to slices of ``batch_size`` images (default ``BATCH_SIZE``) and stack the rows."""
        images = list(images)
        if not images:
            return np.zeros((0, width), dtype=np.float32)
        self.load()
        if batch_size is None:
            from visual_search.conf import vs_settings  # noqa: PLC0415 - needs Django settings

            batch_size = vs_settings.BATCH_SIZE
        return np.concatenate([function(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])

    @abc.abstractmethod
    def _embed_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Return raw (not yet normalised) features for at most one batch of images."""


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length in float32; all-zero rows stay zero instead of NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def center_crop_resize(image: Image.Image, size: int, crop_fraction: float = 1.0) -> Image.Image:
    """Crop the centred square of ``crop_fraction`` of the short side, resized bicubically to ``size``."""
    width, height = image.size
    side = min(width, height) * crop_fraction
    left, top = (width - side) / 2, (height - side) / 2
    # One resample from a fractional box: no rounding of the crop, no second interpolation.
    return image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))


def to_batch(images: Sequence[Image.Image], size: int, crop_fraction: float = 1.0) -> np.ndarray:
    """Stack images as an ``(n, size, size, 3)`` uint8 RGB array; models cast it to float themselves."""
    # uint8 is 4x less to copy than float32, and the cast is cheaper inside the model's graph.
    return np.stack([np.asarray(center_crop_resize(to_rgb(image), size, crop_fraction)) for image in images])
