"""Encoders for the fault tests: slow enough to be caught mid-job, or deadly on one image."""

from __future__ import annotations

import os
import time

from visual_search.encoders.thumbnail import ThumbnailEncoder

#: An image of exactly this size kills the worker process that embeds it.
DEADLY_SIZE = (77, 77)


class SlowEncoder(ThumbnailEncoder):
    """ThumbnailEncoder that takes ``seconds`` per call, so a bulk job lasts long enough to be interrupted."""

    def __init__(self, seconds: float = 0.3, **options):
        super().__init__(**options)
        self.seconds = seconds

    def embed(self, images, **kwargs):
        time.sleep(self.seconds)
        return super().embed(images, **kwargs)


class DeadlyEncoder(ThumbnailEncoder):
    """ThumbnailEncoder whose process dies (as from a segfault or the OOM killer) on a 77x77 image."""

    def embed(self, images, **kwargs):
        if any(image.size == DEADLY_SIZE for image in images):
            os._exit(137)
        return super().embed(images, **kwargs)
