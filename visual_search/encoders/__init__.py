"""Encoder backends: turn PIL images into L2-normalised float32 vectors.

``get_encoder()`` builds the backend named in ``VISUAL_SEARCH["ENCODER"]`` once
per process. Backends load their model lazily on first ``embed()``, so
importing the app or running ``manage.py check`` never loads TensorFlow.
"""

from __future__ import annotations

import functools

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from visual_search.conf import vs_settings
from visual_search.encoders.base import Encoder

__all__ = ["Encoder", "get_encoder", "get_indexing_encoders", "get_search_encoder", "load_encoder"]


def load_encoder(backend: str, options: dict | None = None) -> Encoder:
    """Instantiate the encoder class at dotted path ``backend`` with ``options``."""
    try:
        cls = import_string(backend)
    except ImportError as exc:
        raise ImproperlyConfigured(f"Cannot import encoder backend {backend!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Encoder)):
        raise ImproperlyConfigured(f"{backend!r} is not a visual_search Encoder subclass.")
    return cls(**(options or {}))


@functools.cache
def get_encoder() -> Encoder:
    """Return the configured encoder, one instance per process (cleared on setting_changed)."""
    config = vs_settings.ENCODER
    if "BACKEND" not in config:
        raise ImproperlyConfigured('VISUAL_SEARCH["ENCODER"] needs a "BACKEND" dotted path.')
    return load_encoder(config["BACKEND"], config.get("OPTIONS"))


def get_search_encoder() -> Encoder:
    """The encoder whose vectors searches are answered from.

    The configured one, except during an encoder switch: then the previous
    encoder until the configured one covers the searchable catalogue (see
    ``visual_search.encoder_switch``).
    """
    from visual_search.encoder_switch import serving_encoder  # noqa: PLC0415 - reads the database

    return serving_encoder()


def get_indexing_encoders() -> list[Encoder]:
    """The encoders whose vectors sync keeps up to date: the configured one first, then the one search serves.

    Read-only: workers never record or switch the serving encoder (searches,
    jobs and ``visual_search_encoder`` do).
    """
    from visual_search.encoder_switch import indexing_encoders  # noqa: PLC0415

    return indexing_encoders(record=False)
