"""The app's one table: an embedding per product image and encoder."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField

from visual_search.conf import get_product_model_label


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class ProductImageEmbeddingQuerySet(models.QuerySet):
    def for_encoder(self, encoder) -> "ProductImageEmbeddingQuerySet":
        """Rows written by ``encoder`` (an Encoder or its id)."""
        return self.filter(encoder=getattr(encoder, "id", encoder))

    def ready(self) -> "ProductImageEmbeddingQuerySet":
        return self.filter(status=EmbeddingStatus.READY)

    def failed(self) -> "ProductImageEmbeddingQuerySet":
        return self.filter(status=EmbeddingStatus.FAILED)


class ProductImageEmbedding(models.Model):
    """The vector of one product image under one encoder.

    ``embedding`` is an untyped ``vector`` column so several encoders (of any
    dimension) can live side by side; each encoder gets its own partial HNSW
    expression index (see ``vector_index.py``).
    """

    product = models.ForeignKey(
        get_product_model_label(),
        on_delete=models.CASCADE,
        related_name="visual_embeddings",
        db_index=False,  # the unique (product, image_key, encoder) constraint leads with product
        verbose_name=_("product"),
    )
    image_key = models.CharField(_("image key"), max_length=255)
    encoder = models.CharField(_("encoder"), max_length=100)
    encoder_version = models.CharField(_("encoder version"), max_length=50)
    content_hash = models.CharField(_("SHA-256 of the image bytes"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING
    )
    error = models.TextField(_("failure reason"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    embedding = VectorField(_("embedding"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    embedded_at = models.DateTimeField(_("embedded"), null=True, blank=True)

    objects = ProductImageEmbeddingQuerySet.as_manager()

    class Meta:
        verbose_name = _("product image embedding")
        verbose_name_plural = _("product image embeddings")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "image_key", "encoder"], name="visual_search_one_row_per_image"
            ),
        ]
        indexes = [models.Index(fields=["encoder", "status"], name="visual_search_enc_status")]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.image_key} [{self.encoder}] {self.status}"


class SyncRequest(models.Model):
    """Work owed: a product whose embeddings must be brought up to date (a transactional outbox).

    Written in the same transaction as the save or delete that makes the work
    necessary, so a lost task, a broker outage or a crashed worker never loses
    it, and a rolled-back save owes nothing. Workers claim rows with a lease and
    delete a row only if it was not requested again while they worked on it.
    """

    product = models.OneToOneField(
        get_product_model_label(),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="visual_sync_request",
        verbose_name=_("product"),
    )
    requested_at = models.DateTimeField(_("requested"), db_index=True)
    force = models.BooleanField(_("re-embed unchanged images"), default=False)
    # Null for work owed by a save: it belongs to no job and cannot be paused or cancelled.
    job = models.ForeignKey(
        "BulkJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="requests",
        verbose_name=_("bulk job"),
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)  # retry backoff
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)  # a worker's lease
    # The process holding the lease: only it renews the lease while it works, and gives it back
    # at once after losing the database (outbox.renew_leases, outbox.release_mine).
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("sync request")
        verbose_name_plural = _("sync requests")
        indexes = [
            models.Index(fields=["job", "claimed_until"], name="visual_search_req_job"),
            # The sweep's and the renewal's lookups: rows under a lease are few, whatever is owed.
            models.Index(
                fields=["claimed_until"], name="visual_search_req_leased",
                condition=models.Q(claimed_until__isnull=False),
            ),
            models.Index(
                fields=["claimed_by"], name="visual_search_req_holder",
                condition=models.Q(claimed_until__isnull=False),
            ),
            # A drain's next batch in claim order: 32 rows read, not a million sorted (benchmarks/sweep.py).
            models.Index(
                models.F("job").asc(nulls_first=True), models.F("requested_at"), name="visual_search_req_next",
                condition=models.Q(claimed_until__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"sync {self.product_id}"


class BulkJobMode(models.TextChoices):
    MISSING = "missing", _("Missing: never embedded or pending")
    STALE = "stale", _("Stale: from an older encoder version")
    FAILED = "failed", _("Failed: retry images that failed")
    ALL = "all", _("All: every searchable product, unchanged images skipped")
    FORCE = "force", _("Force: re-embed every image")


class BulkJobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    CANCELLED = "cancelled", _("Cancelled")
    FINISHED = "finished", _("Finished")


class BulkJob(models.Model):
    """A stored, resumable bulk re-embed: its products are the ``SyncRequest`` rows pointing at it."""

    mode = models.CharField(_("mode"), max_length=10, choices=BulkJobMode.choices)
    encoder = models.CharField(_("encoder"), max_length=100)
    state = models.CharField(
        _("state"), max_length=10, choices=BulkJobState.choices, default=BulkJobState.QUEUED, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("started by"),
    )
    total = models.PositiveIntegerField(_("products"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    message = models.TextField(_("message"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # The job dropped its encoder's HNSW index as it started, to build it once after it (indexing/deferred_index.py);
    # cleared once the index is built again.
    index_deferred = models.BooleanField(_("index built after the job"), default=False)

    class Meta:
        verbose_name = _("bulk re-embed job")
        verbose_name_plural = _("bulk re-embed jobs")
        ordering = ["-created_at"]
        permissions = [("run_bulkjob", _("Can start, pause, resume and cancel bulk re-embeds"))]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} [{self.encoder}] {self.state}"


class StoredEncoder(models.Model):
    """An encoder whose vectors are stored, how to build it again, and whether searches use it.

    Exactly one row serves searches. When the configured encoder changes, the
    old one keeps serving (and stays maintained by sync) until the new one's
    vectors cover the catalogue; see ``encoder_switch.py``.
    """

    encoder = models.CharField(_("encoder"), max_length=100, primary_key=True)
    backend = models.CharField(_("backend"), max_length=255)
    options = models.JSONField(_("options"), default=dict, blank=True)
    version = models.CharField(_("version"), max_length=50)
    dimensions = models.PositiveIntegerField(_("dimensions"))
    serving = models.BooleanField(_("serves searches"), default=False)
    created_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    switched_at = models.DateTimeField(_("serving since"), null=True, blank=True)

    class Meta:
        verbose_name = _("stored encoder")
        verbose_name_plural = _("stored encoders")
        constraints = [
            models.UniqueConstraint(
                fields=["serving"], condition=models.Q(serving=True), name="visual_search_one_serving_encoder"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.encoder}{' (serving)' if self.serving else ''}"


class ImagelessProduct(models.Model):
    """A product whose last sync found no images: done, in a state of its own, not "not embedded".

    Written and removed by sync, so progress and ``--wait`` can tell a product
    awaiting photos (or an Oscar parent product) from one never synced.
    """

    product = models.OneToOneField(
        get_product_model_label(),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="visual_imageless",
        verbose_name=_("product"),
    )
    checked_at = models.DateTimeField(_("checked"), auto_now=True)

    class Meta:
        verbose_name = _("product without images")
        verbose_name_plural = _("products without images")

    def __str__(self) -> str:
        return f"{self.product_id} (no images)"


class Calibration(models.Model):
    """How likely a similarity is to be a real match in this catalogue, learnt from the catalogue itself.

    Written by ``visual_search_calibrate`` (and after every bulk job and encoder switch);
    searches use the latest row of the serving encoder. See ``quality/calibration.py``.
    """

    encoder = models.CharField(_("encoder"), max_length=100)
    encoder_version = models.CharField(_("encoder version"), max_length=50)
    products = models.PositiveIntegerField(_("products"))
    images = models.PositiveIntegerField(_("images"))
    categories = models.PositiveIntegerField(_("categories"))
    # The monotone mapping's knots: np.interp(score, scores, confidences).
    scores = models.JSONField(_("similarity knots"))
    confidences = models.JSONField(_("confidence knots"))
    floor = models.FloatField(_("similarity floor"), help_text=_("Where confidence reaches one half."))
    expected_calibration_error = models.FloatField(_("expected calibration error"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("calibrated"), auto_now_add=True)

    class Meta:
        verbose_name = _("calibration")
        verbose_name_plural = _("calibrations")
        indexes = [models.Index(fields=["encoder", "encoder_version", "-created_at"], name="visual_search_calib")]

    def __str__(self) -> str:
        return f"{self.encoder} v{self.encoder_version}: floor {self.floor:.3f} ({self.created_at:%Y-%m-%d %H:%M})"


class EmbeddingWriteMark(models.Model):
    """How far into the primary's write-ahead log the latest embedding write reaches (one row).

    Sync raises it after each write commits; a search reads a replica only once
    the replica has replayed up to it (``search/routing.py``), so a product
    embedded a moment ago is found even while the replica lags.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    lsn = models.BigIntegerField(_("WAL position (bytes)"), default=0)
    written_at = models.DateTimeField(_("written"), auto_now=True)

    class Meta:
        verbose_name = _("embedding write mark")
        verbose_name_plural = _("embedding write marks")

    def __str__(self) -> str:
        return f"WAL {self.lsn}"

    @classmethod
    def record(cls, using: str = "default") -> None:
        """Raise the mark to the primary's WAL insert position; call it after embedding rows commit.

        The position is read after the commit, so it covers that commit's record;
        ``greatest`` keeps the mark from going back when writers race.
        """
        from django.db import connections  # noqa: PLC0415

        table = connections[using].ops.quote_name(cls._meta.db_table)
        with connections[using].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (id, lsn, written_at) "
                "VALUES (1, pg_current_wal_insert_lsn() - '0/0'::pg_lsn, now()) "
                f"ON CONFLICT (id) DO UPDATE SET lsn = greatest({table}.lsn, excluded.lsn), "
                "written_at = excluded.written_at"
            )

    @classmethod
    def current(cls, using: str = "default") -> int:
        """The mark as the primary has it (0 before any embedding write)."""
        return cls.objects.using(using).filter(pk=1).values_list("lsn", flat=True).first() or 0
