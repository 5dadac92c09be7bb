"""Query photos kept for a while, only when ``VISUAL_SEARCH["QUERY_PHOTO_RETENTION_DAYS"]`` says so.

By default nothing is kept: an upload lives in memory for its request. With a
retention of N days, each photo searched by is saved re-encoded (the decoded,
upright, reduced RGB image as a fresh JPEG: no EXIF, no trailing bytes, nothing
of the uploaded file itself) under a name the server chooses,
``visual_search/query-photos/<YYYY-MM-DD>/<uuid4>.jpg`` in the default storage.
``purge()`` (``manage.py visual_search_purge_query_photos``, run it daily) deletes
the days older than N.
"""

from __future__ import annotations

import datetime
import io
import logging
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from visual_search.conf import vs_settings

__all__ = ["FOLDER", "keep", "purge"]

FOLDER = "visual_search/query-photos"

logger = logging.getLogger(__name__)


def retention_days() -> int:
    return int(vs_settings.QUERY_PHOTO_RETENTION_DAYS or 0)


def keep(image: Image.Image) -> str | None:
    """Save ``image`` re-encoded if query photos are kept; return its storage name, else None."""
    if retention_days() <= 0:
        return None
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    name = f"{FOLDER}/{timezone.now().date().isoformat()}/{uuid.uuid4().hex}.jpg"
    try:
        return default_storage.save(name, ContentFile(buffer.getvalue()))
    except OSError:  # a full or read-only disk must not fail the search itself
        logger.exception("Could not keep a query photo")
        return None


def purge(today: datetime.date | None = None) -> int:
    """Delete kept photos of days older than the retention (all when it is 0); return how many."""
    days = retention_days()
    cutoff = (today or timezone.now().date()) - datetime.timedelta(days=days)
    try:
        folders, _ = default_storage.listdir(FOLDER)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    deleted = 0
    for folder in folders:
        try:
            day = datetime.date.fromisoformat(folder)
        except ValueError:
            continue  # not one of ours
        if days > 0 and day >= cutoff:
            continue
        _, files = default_storage.listdir(f"{FOLDER}/{folder}")
        for file in files:
            default_storage.delete(f"{FOLDER}/{folder}/{file}")
            deleted += 1
    return deleted
