"""An encoder whose vectors can be worked out by hand: the image's mean RGB colour."""

from __future__ import annotations

import numpy as np

from visual_search.encoders.base import Encoder
from visual_search.images import to_rgb


class MeanColourEncoder(Encoder):
    """The mean (R, G, B) of the image, as a 3-d vector (unit length after ``embed``)."""

    id = "test-mean-colour"
    version = "1"
    dimensions = 3

    def _embed_batch(self, images):
        return np.stack([np.asarray(to_rgb(image), dtype=np.float32).reshape(-1, 3).mean(axis=0) for image in images])
