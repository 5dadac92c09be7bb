"""A tiny deterministic encoder, no model: fast tests and a demo that starts instantly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from visual_search.encoders.base import Encoder
from visual_search.images import to_rgb

__all__ = ["ThumbnailEncoder"]

GRID = 8  # 8 x 8 x RGB layout features
LEVELS = 4  # 4 x 4 x 4 colour histogram bins


class ThumbnailEncoder(Encoder):
    """An 8x8 RGB thumbnail with its mean removed, plus a 64-bin colour histogram (256-d)."""

    id = "thumbnail"
    version = "1"
    dimensions = GRID * GRID * 3 + LEVELS**3

    def _embed_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.stack([self._vector(to_rgb(image)) for image in images])

    @staticmethod
    def _vector(image: Image.Image) -> np.ndarray:
        # BOX averages every source pixel, so the result hardly depends on the input size.
        layout = np.asarray(image.resize((GRID, GRID), Image.Resampling.BOX), dtype=np.float32) / 255.0
        # Removing the mean makes overall brightness matter less than the picture's layout.
        layout = (layout - layout.mean()).ravel()
        small = np.asarray(image.resize((32, 32), Image.Resampling.BOX), dtype=np.intp)
        colours = small.reshape(-1, 3) // (256 // LEVELS)
        bins = (colours[:, 0] * LEVELS + colours[:, 1]) * LEVELS + colours[:, 2]
        # The histogram sums to 1, so even a flat image gets a non-zero vector to normalise.
        histogram = np.bincount(bins, minlength=LEVELS**3) / len(bins)
        return np.concatenate([layout, histogram]).astype(np.float32)
