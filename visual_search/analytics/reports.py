"""What the analytics page shows, computed in PostgreSQL: a few grouped queries over a date range."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Aggregate, Count, F, FloatField, Func, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, TruncDate

from visual_search.analytics.models import Interaction, SearchEvent

#: Ranks the click-through chart shows.
RANKS = 12
#: ImageNet classes the "photographed, not sold" chart shows, most searched first.
TOP_LABELS = 10


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=float(percentile), **extra)


@dataclass
class Day:
    day: datetime.date
    searches: int
    no_close_match: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def no_close_share(self) -> float:
        return self.no_close_match / self.searches if self.searches else 0.0


@dataclass
class Report:
    start: datetime.date
    end: datetime.date
    surface: str | None
    days: list[Day] = field(default_factory=list)
    searches: int = 0
    no_close_match: int = 0
    clicks: int = 0
    baskets: int = 0
    purchases: int = 0
    ctr_by_rank: list[tuple[int, int, int]] = field(default_factory=list)  # (rank, impressions, clicks)
    repeated_photos: list[tuple[str, int]] = field(default_factory=list)  # (photo hash, searches), most first
    recent_misses: list[SearchEvent] = field(default_factory=list)  # photo searches with no close match
    # (ImageNet class, searches): what the photos with no close match showed, most searched first.
    unsold_labels: list[tuple[str, int]] = field(default_factory=list)

    @property
    def no_close_share(self) -> float:
        return self.no_close_match / self.searches if self.searches else 0.0


def events_between(start: datetime.date, end: datetime.date, surface: str | None = None) -> QuerySet:
    """Searches from the start of ``start`` to the end of ``end`` (dates in the current time zone)."""
    events = SearchEvent.objects.filter(created_at__date__gte=start, created_at__date__lte=end)
    return events.filter(surface=surface) if surface else events


def build_report(start: datetime.date, end: datetime.date, surface: str | None = None) -> Report:
    """Everything the analytics page draws, for searches in ``[start, end]`` on ``surface`` (all when None)."""
    events = events_between(start, end, surface)
    total_ms = Coalesce("decode_ms", Value(0.0)) + Coalesce("embed_ms", Value(0.0)) + F("query_ms")
    days = [
        Day(row["day"], row["searches"], row["misses"], row["p50"], row["p95"])
        for row in events.order_by().annotate(day=TruncDate("created_at")).values("day").annotate(
            searches=Count("pk"), misses=Count("pk", filter=Q(close_match=False)),
            p50=Percentile(total_ms, 0.5), p95=Percentile(total_ms, 0.95),
        ).order_by("day")
    ]
    report = Report(start, end, surface, days=days)
    report.searches = sum(d.searches for d in days)
    report.no_close_match = sum(d.no_close_match for d in days)
    kinds = dict(Interaction.objects.filter(event__in=events).order_by().values_list("kind").annotate(n=Count("pk")))
    report.clicks, report.baskets, report.purchases = (kinds.get(k, 0) for k in ("click", "basket", "purchase"))
    report.ctr_by_rank = _ctr_by_rank(events)
    report.repeated_photos = list(
        events.exclude(photo_hash="").order_by().values_list("photo_hash").annotate(n=Count("pk"))
        .filter(n__gt=1).order_by("-n")[:10]
    )
    report.recent_misses = list(events.filter(close_match=False).exclude(photo="").order_by("-created_at")[:12])
    report.unsold_labels = list(
        events.filter(close_match=False, photo_label__isnull=False).order_by().values_list("photo_label")
        .annotate(n=Count("pk")).order_by("-n", "photo_label")[:TOP_LABELS]
    )
    return report


def _ctr_by_rank(events: QuerySet) -> list[tuple[int, int, int]]:
    # A search that showed n results is an impression for ranks 1..n.
    shown = dict(
        events.order_by().annotate(n=Func(F("results"), function="jsonb_array_length", output_field=IntegerField()))
        .values_list("n").annotate(c=Count("pk"))
    )
    clicks = dict(
        Interaction.objects.filter(event__in=events, kind="click", position__gte=1, position__lte=RANKS)
        .order_by().values_list("position").annotate(c=Count("pk"))
    )
    return [(rank, sum(c for n, c in shown.items() if n >= rank), clicks.get(rank, 0)) for rank in range(1, RANKS + 1)]
