"""Encoder tests need no database; give Django bare settings when pytest-django has not."""

from __future__ import annotations

from django.conf import settings

if not settings.configured:
    # Only reached with ``-p no:django``: vs_settings then reads VISUAL_SEARCH's defaults.
    settings.configure()
