"""System checks (``manage.py check``). None of them loads an encoder's model.

* ``visual_search.E001``: the database is not PostgreSQL, or pgvector is not available on it.
* ``visual_search.E002``: ``VISUAL_SEARCH_PRODUCT_MODEL`` is missing or names no installed model.
* ``visual_search.E003``: the encoder's dimension differs from the vectors stored under its id.
* ``visual_search.E004``: the encoder or adapter setting cannot be loaded.
* ``visual_search.W001``: the configured encoder has no (valid) HNSW index yet.
* ``visual_search.W002``: the database could not be inspected.
* ``visual_search.W003``: no Celery app of the project's is loaded, so tasks would go through Celery's default app.
* ``visual_search.W004``: the Celery broker is not configured (Celery's default amqp://guest@localhost//).
* ``visual_search.W005``: the broker is Redis but the ``redis`` package is missing (``pip install django-visual-search[redis]``).
* ``visual_search.W006``: ``visual_search.search.uploads.UploadGuardMiddleware`` is not in ``MIDDLEWARE``.
* ``visual_search.W007``: an app the REST API needs (API keys, schema, docs assets) is not in ``INSTALLED_APPS``.
* ``visual_search.W008`` (``--deploy``): ``TRUSTED_PROXIES`` is set, yet requests arrived without the proxies'
  ``X-Forwarded-For``: clients reach Django directly and can choose their own throttle key.
* ``visual_search.W009``: the configured head was trained on a catalogue without some categories it now serves.
"""

from __future__ import annotations

from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from visual_search.conf import PRODUCT_MODEL_SETTING, get_product_model


@register("visual_search")
def check_product_model(app_configs=None, **kwargs) -> list:
    try:
        get_product_model()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint=f"Set {PRODUCT_MODEL_SETTING} = 'app_label.ModelName'.",
                      id="visual_search.E002")]
    return []


def _configured_encoder(errors: list):
    from visual_search.adapters import get_adapter  # noqa: PLC0415
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    try:
        get_adapter()
        return get_encoder()
    except (ImproperlyConfigured, ImportError, TypeError, ValueError) as exc:
        errors.append(Error(f"visual_search cannot load its encoder or adapter: {exc}",
                            hint='Check VISUAL_SEARCH["ENCODER"] and VISUAL_SEARCH["ADAPTER"].',
                            id="visual_search.E004"))
        return None


@register("visual_search")
def check_database(app_configs=None, databases=None, **kwargs) -> list:
    """pgvector present, stored vectors matching the encoder, index built."""
    from visual_search.indexing import vector_index  # noqa: PLC0415
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    errors: list = []
    encoder = _configured_encoder(errors)
    # Django runs database checks only when asked; this app cannot work without
    # pgvector, so plain `manage.py check` looks at the default database too.
    for alias in databases or [DEFAULT_DB_ALIAS]:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            errors.append(Error(f"Database {alias!r} is {connection.vendor}; visual_search needs PostgreSQL "
                                "with pgvector.", id="visual_search.E001"))
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
                if cursor.fetchone() is None:
                    errors.append(Error(
                        f"The pgvector extension is not available on database {alias!r}.",
                        hint="Install pgvector on the server (e.g. the pgvector/pgvector Docker image), "
                             "or unset DATABASE_URL to use the embedded PostgreSQL.",
                        id="visual_search.E001"))
                    continue
                table = ProductImageEmbedding._meta.db_table
                if encoder is None or table not in connection.introspection.table_names(cursor):
                    continue  # not migrated yet
                # All rows of one encoder id share a dimension, so a few rows tell.
                cursor.execute(
                    f"SELECT DISTINCT vector_dims(embedding) FROM (SELECT embedding FROM {table} "
                    "WHERE encoder = %s AND embedding IS NOT NULL LIMIT 100) AS sample",
                    [encoder.id],
                )
                stored = sorted(row[0] for row in cursor.fetchall())
        except DatabaseError as exc:
            errors.append(Warning(f"visual_search could not inspect database {alias!r}: {exc}",
                                  id="visual_search.W002"))
            continue
        if stored and stored != [encoder.dimensions]:
            errors.append(Error(
                f"Encoder {encoder.id!r} makes {encoder.dimensions}-d vectors, but {alias!r} stores "
                f"{', '.join(map(str, stored))}-d vectors under that id.",
                hint="Give the new encoder its own id, or delete the old rows and run visual_search_reembed.",
                id="visual_search.E003"))
        elif not vector_index.index_exists(encoder.id, encoder.dimensions, alias):
            errors.append(Warning(
                f"No HNSW index for encoder {encoder.id!r} on {alias!r}; searches will scan every row.",
                hint="Run `manage.py visual_search_index` (migrate creates it for the configured encoder).",
                id="visual_search.W001"))
    return errors


@register("visual_search")
def check_head_catalogue(app_configs=None, **kwargs) -> list:
    """A trained head serving categories it never saw (it may cost them; ``visual_search_train --catalogue``)."""
    encoder = _configured_encoder([])
    trained = (getattr(encoder, "metadata", None) or {}).get("trained_on") or {}
    if not trained.get("categories"):
        return []  # not a head, or one saved before heads recorded their catalogue
    from visual_search.quality.training_guard import unseen_categories  # noqa: PLC0415

    try:
        unseen = unseen_categories(trained["categories"])
    except DatabaseError:
        return []  # not migrated yet; check_database reports a database it cannot read
    if not unseen:
        return []
    shown = ", ".join(sorted(unseen)[:10]) + (" ..." if len(unseen) > 10 else "")
    return [Warning(
        f"The head of encoder {encoder.id!r} was trained on {len(trained['categories'])} categories "
        f"({trained.get('date', 'date unknown')}); the catalogue also has {len(unseen)} it never saw: {shown}.",
        hint="Retrain it with `visual_search_train --catalogue` on the whole catalogue (its guard scores every "
             "category), or serve the base encoder.",
        id="visual_search.W009")]


UPLOAD_MIDDLEWARE = "visual_search.search.uploads.UploadGuardMiddleware"
#: Where it lived before 0.2; still imports (visual_search/_moved.py), so still counts.
OLD_UPLOAD_MIDDLEWARE = "visual_search.uploads.UploadGuardMiddleware"


@register("visual_search", "security")
def check_upload_middleware(app_configs=None, **kwargs) -> list:
    """Without the guard, uploads are read (and spooled to disk) before any size check, and the page is unthrottled."""
    from django.conf import settings  # noqa: PLC0415

    if {UPLOAD_MIDDLEWARE, OLD_UPLOAD_MIDDLEWARE} & set(settings.MIDDLEWARE):
        return []
    return [Warning(
        "The search uploads' guard middleware is not installed: a large upload is read and spooled to disk "
        "before its size is checked, and the search page has no throttle.",
        hint=f'Add "{UPLOAD_MIDDLEWARE}" to MIDDLEWARE, after AuthenticationMiddleware.', id="visual_search.W006",
    )]


@register("visual_search", "security", deploy=True)
def check_trusted_proxies(app_configs=None, **kwargs) -> list:
    """A proxy count with no proxy in front lets any client write its own address (and throttle key)."""
    from django.core.cache import cache  # noqa: PLC0415

    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.search.throttling import MISSING_PROXY_HEADER_KEY  # noqa: PLC0415

    proxies = int(vs_settings.TRUSTED_PROXIES)
    if proxies <= 0:
        return []
    try:
        seen = cache.get(MISSING_PROXY_HEADER_KEY)
    except Exception:  # noqa: BLE001 - the cache being down is not this check's business
        return []
    if not seen:
        return []
    return [Warning(
        f"VISUAL_SEARCH['TRUSTED_PROXIES'] is {proxies}, but a request from {seen['remote_addr']} at {seen['at']} "
        f"came with {seen['hops']} X-Forwarded-For hop(s): clients reach Django without passing the proxy, and "
        "any of them can send the header itself to choose the address its throttles count.",
        hint="Set TRUSTED_PROXIES (VISUAL_SEARCH_TRUSTED_PROXIES in config/production.py) to the number of "
        "proxies every request passes, 0 without one; or make the proxy the only way in.",
        id="visual_search.W008",
    )]


#: What ``visual_search.api.urls`` needs installed: DRF, the API keys' model, the schema and its docs page's assets.
API_APPS = ("rest_framework", "rest_framework_api_key", "drf_spectacular", "drf_spectacular_sidecar")


@register("visual_search")
def check_api_apps(app_configs=None, **kwargs) -> list:
    """The API's URLs fail to import (API keys) or its docs page breaks (assets) without these apps."""
    from django.apps import apps  # noqa: PLC0415

    missing = [name for name in API_APPS if not apps.is_installed(name)]
    if not missing:
        return []
    return [Warning(
        f"The visual_search REST API needs {', '.join(missing)} in INSTALLED_APPS.",
        hint=f"Add {', '.join(repr(n) for n in missing)} to INSTALLED_APPS before \"visual_search\", or silence "
        "visual_search.W007 if you do not include visual_search.api.urls.",
        id="visual_search.W007",
    )]


CELERY_DEFAULT_BROKER = "amqp://guest@localhost//"
CELERY_HINT = (
    "Create your project's Celery app in yourproject/celery.py and import it in yourproject/__init__.py "
    "(see the README, 'Add it to your shop'), then run `celery -A yourproject worker`."
)


@register("visual_search")
def check_celery(app_configs=None, **kwargs) -> list:
    """Would this app's tasks reach a real broker through the project's Celery app?"""
    from celery import _state  # noqa: PLC0415 - Celery's own record of the current and fallback apps

    app = _state.get_current_app()
    if app is _state.default_app and app.main == "default":
        # shared_task binds to the current app; without the project's, that is Celery's fallback
        # app, which ignores Django's CELERY_* settings and publishes to amqp://localhost.
        return [Warning("visual_search's tasks would be sent through Celery's default app, which ignores "
                        "your CELERY_* settings.", hint=CELERY_HINT, id="visual_search.W003")]
    url = app.conf.broker_url
    if not url or url in (CELERY_DEFAULT_BROKER, "amqp://guest:**@localhost:5672//"):
        return [Warning(f"The Celery broker is not configured: tasks would go to {CELERY_DEFAULT_BROKER}.",
                        hint="Set CELERY_BROKER_URL (e.g. redis://localhost:6379/0).", id="visual_search.W004")]
    if str(url).split(":", 1)[0] in ("redis", "rediss", "redis+socket", "sentinel"):
        try:
            import redis  # noqa: F401, PLC0415
        except ImportError:
            return [Warning("The Celery broker is Redis, but the redis package is not installed: workers "
                            "will crash and saves cannot queue work.",
                            hint="pip install 'django-visual-search[redis]' (or celery[redis]).",
                            id="visual_search.W005")]
    return []
