"""Clicks as labels: searched photos paired with the product the shopper chose, as an evaluation manifest.

The CSV is what ``visual_search_evaluate`` and ``visual_search_train`` read
(``path,label,split,product_id``): each kept query photo that led to a click
(or a basket add, or a purchase) is a query whose right answer is the product
chosen; every image of every searchable product is the catalogue. Only photo
searches whose photo was kept (``QUERY_PHOTO_RETENTION_DAYS``) can become queries.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable
from pathlib import Path

from django.core.files.storage import default_storage
from django.utils import timezone

from visual_search.adapters import get_adapter
from visual_search.analytics.models import Interaction, SearchEvent
from visual_search.conf import vs_settings


def _local_path(file) -> str | None:
    try:
        return file.path  # FileSystemStorage; remote storages have no local path
    except (AttributeError, NotImplementedError, ValueError):
        return None


def export_manifest(
    path: str | Path,
    *,
    kinds: Iterable[str] = ("click", "basket", "purchase"),
    since: datetime.date | None = None,
) -> dict[str, int]:
    """Write the manifest to ``path``; return counts (``queries``, ``catalogue``, ``skipped``)."""
    adapter = get_adapter()
    products = {str(p.pk): p for p in adapter.get_queryset()}
    chosen = Interaction.objects.filter(kind__in=list(kinds)).exclude(event__photo="").select_related("event")
    if since:
        chosen = chosen.filter(created_at__date__gte=since)
    counts = {"queries": 0, "catalogue": 0, "skipped": 0}
    seen: set[tuple[str, str]] = set()
    rows = []
    for interaction in chosen.order_by("created_at"):
        key = (str(interaction.event_id), interaction.product)
        if key in seen:
            continue  # a click, then a basket add of the same product: one query
        seen.add(key)
        try:
            photo = default_storage.path(interaction.event.photo)
        except NotImplementedError:
            photo = None
        if interaction.product not in products or not photo or not Path(photo).exists():
            counts["skipped"] += 1  # the product left the catalogue, or the photo was purged
            continue
        rows.append([photo, f"product-{interaction.product}", "query", interaction.product])
        counts["queries"] += 1
    for pk, product in products.items():
        for image in adapter.get_images(product):
            local = _local_path(image.file)
            if local:
                rows.append([local, f"product-{pk}", "catalogue", pk])
                counts["catalogue"] += 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split", "product_id"])
        writer.writerows(rows)
    return counts


def purge(days: int | None = None) -> int:
    """Delete searches (with their interactions) older than ``days`` (default: the retention setting)."""
    keep = int(vs_settings.ANALYTICS_RETENTION_DAYS if days is None else days)
    cutoff = timezone.now() - datetime.timedelta(days=keep)
    return SearchEvent.objects.filter(created_at__lt=cutoff).delete()[1].get("visual_search_analytics.SearchEvent", 0)
