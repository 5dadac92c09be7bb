"""Encoder backends: turn PIL images into L2-normalised float32 vectors.

``get_encoder()`` builds the backend named in ``VISUAL_SEARCH["ENCODER"]`` once
per process. Which encoder *serves* searches (the configured one, or the previous
one during a switch) is ``visual_search.indexing.encoder_switch``'s business. Backends load their model lazily on first ``embed()``, so
importing the app or running ``manage.py check`` never loads TensorFlow.
"""

from __future__ import annotations

import functools

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from visual_search.conf import vs_settings
from visual_search.encoders.base import Encoder

__all__ = ["Encoder", "get_encoder", "load_encoder"]


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


def _on_setting_changed(*, setting: str, **kwargs) -> None:
    if setting == "VISUAL_SEARCH":
        get_encoder.cache_clear()


setting_changed.connect(_on_setting_changed)
