"""A colour-histogram encoder: the baseline a CNN has to beat, with no model at all."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from visual_search.encoders.base import Encoder
from visual_search.images import to_rgb

__all__ = ["ColorHistogramEncoder"]

# Hue gets the most bins: it says most about a garment's colour; saturation and value fewer.
BINS = (8, 4, 4)


class ColorHistogramEncoder(Encoder):
    """A joint HSV histogram (8 x 4 x 4 = 128 bins) of the image at 64 x 64, square-rooted."""

    id = "color-histogram"
    version = "1"
    dimensions = int(np.prod(BINS))

    def _embed_batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.stack([self._vector(to_rgb(image)) for image in images])

    @staticmethod
    def _vector(image: Image.Image) -> np.ndarray:
        hsv = np.asarray(image.resize((64, 64), Image.Resampling.BOX).convert("HSV"), dtype=np.intp)
        h, s, v = (hsv[..., c].ravel() * bins // 256 for c, bins in enumerate(BINS))
        histogram = np.bincount((h * BINS[1] + s) * BINS[2] + v, minlength=int(np.prod(BINS)))
        # The square root (Hellinger kernel) makes cosine similarity a sensible histogram comparison.
        return np.sqrt(histogram / histogram.sum()).astype(np.float32)
