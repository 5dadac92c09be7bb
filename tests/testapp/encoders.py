"""Encoders that fail on purpose, to exercise retries with the real task code."""

from __future__ import annotations

from visual_search.encoders.thumbnail import ThumbnailEncoder


class FlakyEncoder(ThumbnailEncoder):
    """Raises for the first ``failures`` calls in this process, then embeds like ThumbnailEncoder."""

    calls = 0

    def __init__(self, failures: int = 1, **options):
        super().__init__(**options)
        self.failures = failures

    def embed(self, images):
        type(self).calls += 1
        if type(self).calls <= self.failures:
            raise RuntimeError(f"simulated encoder outage (call {type(self).calls})")
        return super().embed(images)



class MislabelledEncoder(ThumbnailEncoder):
    """Reuses the default encoder's id with another dimension: what system check E003 catches."""

    id = "efficientnet-lite0"


class NamingEncoder(ThumbnailEncoder):
    """ThumbnailEncoder with an ImageNet layer that knows two photos: coffee is "espresso", chelsea "tabby".

    Each class's weights are that photo's own features, so the nearer photo wins; every other class
    scores 0. Deterministic and instant, for tests of what is done with a name, not of naming.
    """

    id = "thumbnail-naming"
    describes = True
    _classifier = None

    def describe(self, features, *, top=1):
        if self._classifier is None:
            import numpy as np  # noqa: PLC0415
            from PIL import Image  # noqa: PLC0415
            from skimage import data  # noqa: PLC0415

            from visual_search.encoders.imagenet import ImageNetClassifier  # noqa: PLC0415

            weight = np.zeros((1000, self.dimensions), np.float32)
            for index, name in ((967, "coffee"), (281, "chelsea")):
                vector = self._vector(Image.fromarray(getattr(data, name)()))
                weight[index] = 20 * vector / np.linalg.norm(vector)
            self._classifier = ImageNetClassifier(weight, np.zeros(1000, np.float32))
        return self._classifier.describe(features, top=top)
