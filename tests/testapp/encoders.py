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
