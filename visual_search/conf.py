"""Settings for visual_search, read lazily from the ``VISUAL_SEARCH`` dict.

Modelled on DRF's ``api_settings``: defaults below, dotted paths in
``IMPORT_STRINGS`` imported on first access, per-attribute caching that
``setting_changed`` clears so ``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

SETTINGS_NAME = "VISUAL_SEARCH"
PRODUCT_MODEL_SETTING = "VISUAL_SEARCH_PRODUCT_MODEL"

DEFAULTS: dict[str, Any] = {
    # Encoder backend, configured like CACHES: a dotted path plus options.
    "ENCODER": {
        "BACKEND": "visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder",
        "OPTIONS": {"variant": "lite0", "pooling": "avg"},
    },
    # Says which images of a product to embed and which products are searchable.
    "ADAPTER": "visual_search.adapters.ImageFieldAdapter",
    # Read by the default ImageFieldAdapter.
    "IMAGE_FIELD": "image",
    # Enqueue embedding work from post_save / post_delete receivers.
    "AUTO_EMBED": True,
    # Products claimed per batch by a worker, and images per encoder call in bulk jobs.
    "BATCH_SIZE": 32,
    # Images per forward pass inside a worker's batch: on CPU 8 runs as fast as 32 with a third of the memory.
    "INFERENCE_BATCH_SIZE": 8,
    # Products a worker claims per batch while the work owed is all bulk jobs' (saves' work is claimed
    # first, BATCH_SIZE at a time): per-batch queries and bookkeeping paid half as often per image.
    "BULK_BATCH_SIZE": 64,
    # A bulk job of at least this many products (and at least half as many as its encoder has vectors)
    # for an encoder no search reads yet drops that encoder's HNSW index as it starts and builds it once
    # after it: several times less CPU than inserting each row into the graph. None: never.
    "BULK_DEFER_INDEX_MIN": 1000,
    # Celery routing and retries for embedding tasks.
    "TASK_QUEUE": None,
    # Bulk jobs' work goes to this queue when set, so a big re-embed never delays on-save work.
    "TASK_QUEUE_BULK": None,
    "TASK_MAX_RETRIES": 5,
    "TASK_RETRY_BACKOFF_MAX": 600,
    # A task running longer than this is stopped and retried, so no worker hangs on one batch.
    "TASK_SOFT_TIME_LIMIT": 300,
    # Work owed (SyncRequest rows): a worker's claim on a batch lasts this long and is renewed every
    # third of it while the worker lives (a lease keeper thread), so it may be shorter than a batch
    # takes; a dead worker's batch is claimed again once it expires (measured: tests/faults).
    "SYNC_LEASE_SECONDS": 15,
    # The sweep re-sends work owed that no worker claimed within this many seconds (a lost task).
    "SYNC_SWEEP_AFTER": 10,
    # A drain that lost the database waits this long for it, reconnecting every second, then drains
    # again at once; past it, it gives up and the sweep sends a drain once the database answers.
    "DATABASE_WAIT_SECONDS": 120,
    # The app's own queries, per transaction (SET LOCAL): seconds a statement may run and a lock may
    # be waited for (None: the database's own setting). Connect timeouts and TCP keepalives are the
    # connection's, set in DATABASES (docs/operations.md).
    "DB_STATEMENT_TIMEOUT": 30,
    "DB_LOCK_TIMEOUT": 5,
    # Caps applied before decoding any image, stored or uploaded.
    "MAX_IMAGE_BYTES": 10 * 1024 * 1024,
    "MAX_IMAGE_PIXELS": 40_000_000,
    "ALLOWED_IMAGE_FORMATS": ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"],
    # Long side over short side; a 1 x 100000 strip is refused from its header.
    "MAX_IMAGE_ASPECT_RATIO": 20,
    # Bytes of decoded pixels one process holds at once over all concurrent decodes; an image
    # whose decode alone needs more is refused. 4 bytes x MAX_IMAGE_PIXELS fits.
    "DECODE_MEMORY_BUDGET": 160 * 1024 * 1024,
    # Query photos decode (JPEG draft, else a box shrink) to a short side of at least this; None: the
    # size catalogue photos decode to for the search encoder (its input + 32, 256 for Lite0).
    "QUERY_IMAGE_SIZE": None,
    # Keep each photo searched by, re-encoded, for this many days (visual_search.search.query_photos); None keeps none.
    "QUERY_PHOTO_RETENTION_DAYS": None,
    # Reverse proxies in front of Django that append to X-Forwarded-For (0: use REMOTE_ADDR only).
    "TRUSTED_PROXIES": 0,
    # The search page's own throttle: "anon" per client address, "user" per logged-in user.
    "PAGE_THROTTLE_RATES": {"anon": "20/min", "user": "60/min"},
    # What the HNSW index stores: "halfvec" (half precision: half the size, faster distances, up to
    # 4,000 dimensions) or "vector" (single precision, up to 2,000); see vector_index.py.
    "HNSW_VECTOR_TYPE": "halfvec",
    # HNSW build and query parameters, chosen by measurement at 100k products (docs/benchmarks.md):
    # m=16, ef_construction=64 found 0.79-0.85 of the exact top 12; m=32, ef_construction=128 all of it.
    "HNSW_M": 32,
    "HNSW_EF_CONSTRUCTION": 128,
    "HNSW_EF_SEARCH": 40,
    # Most index tuples one iterative scan visits (pgvector's hnsw.max_scan_tuples) for a filtered query.
    "HNSW_MAX_SCAN_TUPLES": 20_000,
    # A filter keeping at most this many products is answered by an exact scan of just those.
    "EXACT_SEARCH_MAX_PRODUCTS": 2_000,
    # Cosine similarity below which a result is not presented as a match: a manual override. None: the floor of
    # the serving encoder's latest calibration on this catalogue (visual_search_calibrate), else its
    # Encoder.similarity_floor (0.55 for EfficientNet-Lite0, docs/benchmarks.md).
    "SIMILARITY_FLOOR": None,
    # Calibrated confidence (quality/calibration.py): refit from the catalogue at the end of every bulk job
    # and after an encoder switch. False leaves it to `manage.py visual_search_calibrate`.
    "CALIBRATE_AUTOMATICALLY": True,
    # Phone-like views of catalogue images embedded per calibration (crop, scale, rotation, blur, JPEG,
    # light, busy background): more is steadier and costs encoder time (about 1 s per 100 on 2 cores, Lite0);
    # at 700 the floor moved by 0.03 between draws on the demo, at 2,000 by 0.016.
    "CALIBRATION_VIEWS": 2000,
    # Most catalogue images one calibration reads (a random sample beyond it), so it stays bounded in memory.
    "CALIBRATION_MAX_IMAGES": 20_000,
    # The share of searches assumed to be for things the shop does not sell: the prior of the calibration.
    # Lower says "close match" more often (fewer right answers called "no close match", more wrong ones let
    # through); docs/evaluation.md measures 0.1-0.5 on the demo catalogue.
    "CALIBRATION_NOT_SOLD_SHARE": 0.25,
    # At most this share of the catalogue's phone-like "another item of a kind we sell" queries may fall under
    # the floor: where the prior would put the floor higher, the calibration lowers the prior until it does
    # not. None: the prior alone decides.
    "CALIBRATION_MISS_RATE": 0.03,
    # The content check: this share of phone-like views of the catalogue may fail it (the ImageNet classes
    # the catalogue shows get too little of a photo's probability); a photo that fails gets no close match.
    # None turns the check off.
    "CALIBRATION_CONTENT_MISS_RATE": 0.01,
    # Below this best confidence the search page says "We don't seem to sell this" rather than showing the
    # closest items as such. Between it and one half: "Closest items we have".
    "LOW_CONFIDENCE": 0.2,
    # The REST API's own access policy (not the host's REST_FRAMEWORK defaults); dotted paths.
    "API_AUTHENTICATION_CLASSES": [
        "visual_search.api.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "API_PERMISSION_CLASSES": ["visual_search.api.permissions.HasAPIAccess"],
    # True opens the API to callers with no key and no session, under the "anon" rate.
    "API_ALLOW_ANONYMOUS": False,
    "API_THROTTLE_CLASSES": ["visual_search.api.throttles.CallerRateThrottle"],
    "API_UPLOAD_THROTTLE_CLASSES": ["visual_search.api.throttles.UploadRateThrottle"],
    # Requests per caller: "anon" (by address), "user" (session), "key" (per API key); "upload" is
    # search-by-photo's own scope, counted per caller on top of the others. None switches one off.
    "API_THROTTLE_RATES": {"anon": "30/min", "user": "120/min", "key": "600/min", "upload": "60/min"},
    # Per-key overrides by key name: {"partner-x": {"key": "6000/min", "upload": "600/min"}}.
    "API_KEY_THROTTLE_RATES": {},
    # The template the search page extends; it must define "title" and "content" blocks.
    "BASE_TEMPLATE": "visual_search/base.html",
    # How result cards and the carousel show a price from the adapter, e.g. "${amount}" or "{amount} €".
    "PRICE_FORMAT": "{amount}",
    # The database alias searches read (e.g. a streaming read replica); embeddings are always written to
    # "default". A replica is read only once it has replayed the latest embedding write (search/routing.py).
    "SEARCH_DATABASE": "default",
    # visual_search_health and GET /visual-search/health/: the checks run side by side and the answer
    # comes within this many seconds whatever is down (a check still waiting is reported failed).
    "HEALTH_TIMEOUT": 2.0,
    # "degraded" (200, with the reason) when work owed by a save has waited this long, or a running
    # bulk job has owed work and moved nothing for HEALTH_STALLED_SECONDS.
    "HEALTH_MAX_BACKLOG_AGE": 900,
    "HEALTH_STALLED_SECONDS": 120,
    # Search defaults.
    "DEFAULT_RESULTS": 12,
    "MAX_RESULTS": 100,
    # Where visual_search_evaluate caches embeddings of evaluation photos (None: ~/.cache/visual-search).
    "EVALUATION_CACHE_DIR": None,
    # A bounded re-rank by business signals (ProductAdapter.get_signals, each in [0, 1]): a result's rank
    # key is its score + sum(weight x signal), the sum kept within +-MAX_BOOST; a result under the floor
    # never outranks a match. Weights are in cosine units, e.g. {"in_stock": 0.02, "popularity": 0.03}.
    "BOOSTS": {},
    "MAX_BOOST": 0.05,
    # visual_search.analytics (when installed): record every search, and keep the log this many days
    # (manage.py visual_search_analytics purge deletes older searches with their clicks).
    "SEARCH_LOG": True,
    "ANALYTICS_RETENTION_DAYS": 180,
    # Category suggestion: the product field holding the category, and how many neighbours vote.
    "CATEGORY_FIELD": "category",
    "SUGGEST_NEIGHBOURS": 10,
}

IMPORT_STRINGS = ("ADAPTER",)


class VisualSearchSettings:
    """Lazy, cached view of ``settings.VISUAL_SEARCH`` merged over ``DEFAULTS``."""

    def __init__(self, defaults: dict[str, Any] | None = None, import_strings=IMPORT_STRINGS):
        self.defaults = defaults or DEFAULTS
        self.import_strings = import_strings
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        if not hasattr(self, "_user_settings"):
            value = getattr(settings, SETTINGS_NAME, {}) or {}
            if not isinstance(value, dict):
                raise ImproperlyConfigured(f"{SETTINGS_NAME} must be a dict.")
            unknown = set(value) - set(self.defaults)
            if unknown:
                raise ImproperlyConfigured(
                    f"Unknown {SETTINGS_NAME} keys: {', '.join(sorted(unknown))}."
                )
            self._user_settings = value
        return self._user_settings

    def __getattr__(self, attr: str) -> Any:
        if attr not in self.defaults:
            raise AttributeError(f"Invalid {SETTINGS_NAME} setting: {attr!r}")
        try:
            value = self.user_settings[attr]
        except KeyError:
            value = self.defaults[attr]
        if attr == "ENCODER":
            # A user's ENCODER replaces the default whole; OPTIONS may be left out.
            value = {"OPTIONS": {}, **value}
        if attr in self.import_strings and isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as exc:
                raise ImproperlyConfigured(
                    f"Could not import {value!r} for {SETTINGS_NAME}[{attr!r}]: {exc}"
                ) from exc
        self._cached.add(attr)
        setattr(self, attr, value)
        return value

    def reload(self) -> None:
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()
        if hasattr(self, "_user_settings"):
            delattr(self, "_user_settings")


vs_settings = VisualSearchSettings()


def get_product_model_label() -> str:
    """Return the ``app_label.ModelName`` of the host's product model."""
    label = getattr(settings, PRODUCT_MODEL_SETTING, None)
    if not label:
        raise ImproperlyConfigured(
            f"Set {PRODUCT_MODEL_SETTING} to your product model, e.g. 'shop.Product'."
        )
    return label


def get_product_model():
    """Return the host's product model class."""
    label = get_product_model_label()
    try:
        return apps.get_model(label, require_ready=False)
    except (ValueError, LookupError) as exc:
        raise ImproperlyConfigured(
            f"{PRODUCT_MODEL_SETTING} refers to {label!r}, which is not an installed model."
        ) from exc


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTINGS_NAME, PRODUCT_MODEL_SETTING):
        vs_settings.reload()


setting_changed.connect(_reload)
