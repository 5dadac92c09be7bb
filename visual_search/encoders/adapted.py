"""A frozen base encoder followed by a head fitted on the shop's labels (``visual_search_train``).

Configure it like any backend; it gets its own id and version, so its vectors
live beside the base encoder's and the encoder switch moves search over when
they cover the catalogue. Its ``similarity_floor`` is the one stored in the head
file by ``benchmarks/similarity_floor.py --store-floor`` (a head changes how
similarities are spread, so the base encoder's floor does not carry over)::

    VISUAL_SEARCH = {"ENCODER": {
        "BACKEND": "visual_search.encoders.adapted.AdaptedEncoder",
        "OPTIONS": {"head": "/srv/heads/clothing-v1.npz"},  # + "base_options": {"runtime": "keras"}
    }}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

from visual_search.encoders import load_encoder
from visual_search.encoders.base import Encoder, l2_normalize
from visual_search.encoders.heads import apply_head, head_digest, load_head
from visual_search.encoders.imagenet import ImageLabel

__all__ = ["AdaptedEncoder"]

logger = logging.getLogger(__name__)


class AdaptedEncoder(Encoder):
    """``base`` features (as stored in the head file) through the head, in numpy."""

    def __init__(self, head: str, base_options: dict[str, Any] | None = None, **options: Any) -> None:
        """``base_options`` override the base encoder's stored options, for how it runs (say
        ``{"runtime": "keras"}`` on a GPU); an option that changes its vectors is refused."""
        super().__init__(**options)
        try:
            self.weights, self.metadata = load_head(head)
        except (OSError, ValueError, KeyError) as exc:
            raise ImproperlyConfigured(f"Cannot read the embedding head {head!r}: {exc}") from exc
        self.head_path, self._apply = head, apply_head
        base = self.metadata["base"]
        self.base = load_encoder(base["backend"], {**(base.get("options") or {}), **(base_options or {})})
        if (self.base.id, self.base.version) != (base["id"], base["version"]):
            raise ImproperlyConfigured(f"{head!r} was fitted on {base['id']} v{base['version']}, not {self.base!r}.")
        self.weights_digest = head_digest(self.weights)
        # The digest, not only the name: a head retrained under the same name and version is another vector
        # space, so its vectors get their own id (built beside the old ones, the encoder switch moves searches
        # over) instead of mixing with the old ones.
        self.id = f"{self.base.id}-{self.metadata['name']}-{self.weights_digest}"
        self.version = str(self.metadata["version"])
        self.dimensions = int(self._apply(self.weights, np.ones((1, self.base.dimensions), np.float32)).shape[1])
        if self.metadata.get("similarity_floor") is not None:
            self.similarity_floor = float(self.metadata["similarity_floor"])
        else:
            logger.warning("%s has no calibrated similarity floor; using %s. Calibrate it with "
                           "benchmarks/similarity_floor.py --encoder ... --store-floor.",
                           head, self.similarity_floor)

    @property
    def decode_size(self) -> int:
        return self.base.decode_size

    def _load(self) -> None:
        self.base.load()

    def _embed_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._apply(self.weights, self.base._embed_batch(images))

    @property
    def describes(self) -> bool:  # type: ignore[override]
        """Whether the base encoder names what it sees: the head leaves the base's features intact."""
        return self.base.describes

    def embed_with_features(
        self, images: Sequence[Image.Image], *, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The adapted vectors and the base encoder's raw features (what its classifier reads), one pass."""
        features = self._in_batches(self.base._embed_batch, images, self.base.dimensions, batch_size)
        return self._checked(l2_normalize(self._apply(self.weights, features)), len(images)), features

    def describe(self, features: np.ndarray, *, top: int = 1) -> list[list[ImageLabel]]:
        """The base encoder's ImageNet classes for its ``features`` (from ``embed_with_features``)."""
        return self.base.describe(features, top=top)

    def class_probabilities(self, features: np.ndarray) -> np.ndarray | None:
        """The base encoder's ImageNet class probabilities for its ``features``."""
        return self.base.class_probabilities(features)

    def project(self, base_vectors: np.ndarray) -> np.ndarray:
        """Adapted vectors from the base encoder's stored vectors, without touching the images."""
        return l2_normalize(self._apply(self.weights, base_vectors))
