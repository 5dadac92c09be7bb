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
from visual_search.encoders.base import Encoder
from visual_search.encoders.heads import apply_head, head_digest, load_head

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

    def project(self, base_vectors: np.ndarray) -> np.ndarray:
        """Adapted vectors from the base encoder's stored vectors, without touching the images."""
        from visual_search.encoders.base import l2_normalize  # noqa: PLC0415

        return l2_normalize(self._apply(self.weights, base_vectors))
