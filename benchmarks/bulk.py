"""Bulk re-embed throughput: the encoder alone against a real worker re-embedding into PostgreSQL.

In one run, on the same photos: (1) the encoder's own images/s, embedding
already-decoded images in batches of BATCH_SIZE in this process; (2) a forced
bulk job (a ``BulkJob`` and its ``SyncRequest`` rows, as the admin starts one)
drained by one real ``celery worker`` (prefork, concurrency 1), from the job's
kick until it is finished: reading the files, decoding, inference and writing
the rows. The worker's RSS (parent and pool child) is sampled with psutil
throughout. The catalogue's products point at the dataset's own files.

    .venv/bin/python benchmarks/bulk.py --limit 1500 --output /tmp/bulk.md
    .venv/bin/python benchmarks/bulk.py --runtime keras   # the Keras graph instead of TF Lite
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

DATABASE = "visual_search_bench_bulk"
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"
MIB = 1024 * 1024


def runtime_encoder(runtime: str) -> dict:
    """The app's default encoder run by ``runtime`` (``tflite``, its default, or ``keras``)."""
    return {"BACKEND": "visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder",
            "OPTIONS": {"variant": "lite0", "pooling": "avg", "runtime": runtime}}


def setup_django(dataset: Path, queue: str) -> dict:
    """Django on the project settings, pointed at the benchmark database (created and migrated here)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django  # noqa: PLC0415
    import psycopg  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    db = settings.DATABASES["default"]  # reading settings starts the embedded server when needed
    params = {
        "dbname": "postgres",
        "user": db.get("USER") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        # An index build in one backend: parallel workers come and go between two CPU samples.
        conn.execute(f'ALTER DATABASE "{DATABASE}" SET max_parallel_maintenance_workers = 0')
    db["NAME"] = DATABASE
    settings.MEDIA_ROOT = str(dataset)
    # The app's default encoder (plain EfficientNet-Lite0), not the demo's adapted one; the worker's too.
    settings.VISUAL_SEARCH = {
        **{k: v for k, v in settings.VISUAL_SEARCH.items() if k != "ENCODER"}, "AUTO_EMBED": False, "TASK_QUEUE": queue,
        "CALIBRATE_AUTOMATICALLY": False,  # not part of the re-embed (the worker's settings say the same)
        # --defer-index: the app defers the index itself (deferred_index.py); otherwise it stays live.
        "BULK_DEFER_INDEX_MIN": 1 if os.environ.get("BENCH_DEFER_INDEX") else None,
    }
    if os.environ.get("VISUAL_SEARCH_BENCH_INFERENCE_BATCH"):  # --inference-batch-size: both sides alike
        settings.VISUAL_SEARCH["INFERENCE_BATCH_SIZE"] = int(os.environ["VISUAL_SEARCH_BENCH_INFERENCE_BATCH"])
    if os.environ.get("BENCH_ENCODER_RUNTIME"):  # --runtime: both sides alike
        settings.VISUAL_SEARCH["ENCODER"] = runtime_encoder(os.environ["BENCH_ENCODER_RUNTIME"])
    settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
    django.setup()
    call_command("migrate", verbosity=0)
    return db


def catalogue(dataset: Path, limit: int) -> list[int]:
    """One product per photo (bulk-created: no signals), its image the dataset's own file."""
    from shop.models import Category, Product  # noqa: PLC0415
    from visual_search.models import BulkJob, ProductImageEmbedding, SyncRequest  # noqa: PLC0415

    SyncRequest.objects.all().delete()
    BulkJob.objects.all().delete()
    ProductImageEmbedding.objects.all().delete()
    Product.objects.all().delete()
    files = sorted(p for p in dataset.rglob("*.jpg"))[:limit]
    category, _ = Category.objects.get_or_create(name="Bench", slug="bench")
    Product.objects.bulk_create(
        [
            Product(
                name=p.stem, slug=f"bench-{i}", price=1, category=category, image=str(p.relative_to(dataset))
            )
            for i, p in enumerate(files)
        ],
        batch_size=1000,
    )
    return list(Product.objects.order_by("pk").values_list("pk", flat=True))


def decoded(dataset: Path, limit: int) -> list:
    from visual_search.images import open_image  # noqa: PLC0415

    return [open_image(p.read_bytes()) for p in sorted(dataset.rglob("*.jpg"))[:limit]]


def encoder_rate(images: list) -> tuple[float, float]:
    """The encoder's own images/s on the same photos, decoded beforehand, called as the worker calls it.

    Also its CPU seconds per call of BATCH_SIZE images (this process's, over all its threads).
    """
    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    encoder, batch = get_encoder(), int(vs_settings.BATCH_SIZE)
    inference = int(vs_settings.INFERENCE_BATCH_SIZE)  # the forward-pass size the worker uses too
    encoder.embed(images[:batch], batch_size=inference)  # warm-up: model built, graph traced
    start, cpu = time.perf_counter(), cpu_seconds(psutil.Process())
    for i in range(0, len(images), batch):
        encoder.embed(images[i : i + batch], batch_size=inference)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds(psutil.Process()) - cpu
    return len(images) / elapsed, cpu / (len(images) / batch)


def stage_profile(dataset: Path, limit: int) -> dict[str, float]:
    """Core-seconds per image of each step the worker runs, one after another in this process.

    The same functions as the worker: reading the file, hashing it, decoding it
    shrunk (``open_image`` with the encoder's decode size), preparing the network's
    input (crop and resize), and inference on prepared inputs in calls of
    BATCH_SIZE (forward passes of INFERENCE_BATCH_SIZE).
    """
    import hashlib  # noqa: PLC0415

    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.images import open_image  # noqa: PLC0415

    encoder, batch = get_encoder(), int(vs_settings.BATCH_SIZE)
    files = sorted(dataset.rglob("*.jpg"))[:limit]
    me = psutil.Process()
    out: dict[str, float] = {}

    def timed(name: str, step, items: list) -> list:
        start = cpu_seconds(me)
        results = [step(item) for item in items]
        out[name] = (cpu_seconds(me) - start) / len(items)
        return results

    data = timed("read", lambda p: p.read_bytes(), files)
    timed("hash", lambda d: hashlib.sha256(d).hexdigest(), data)
    images = timed("decode", lambda d: open_image(d, target_size=encoder.decode_size), data)
    pixels = timed("crop_resize", encoder.prepare, images)
    inference = int(vs_settings.INFERENCE_BATCH_SIZE)
    encoder.embed_prepared(pixels[:batch], batch_size=inference)  # warm-up
    start = cpu_seconds(me)
    for i in range(0, len(pixels), batch):
        encoder.embed_prepared(pixels[i : i + batch], batch_size=inference)
    out["inference"] = (cpu_seconds(me) - start) / len(pixels)
    return out


LOG_CPU = re.compile(
    r"Synced products .*?(\d+) embedded.*CPU: ([\d.]+) s reading and decoding, ([\d.]+) s writing"
)


def worker_cpu(log: Path) -> tuple[int, float, float]:
    """From the worker's log: images embedded, CPU seconds reading+decoding and writing (its own threads).

    Each batch's line is counted once: the demo's ``visual_search`` logger has a console handler of its
    own and also propagates to Celery's, so the log holds every line twice (counted twice before
    2026-12-08, which doubled the reader and writer threads' figures).
    """
    embedded = loading = writing = 0.0
    lines = {match[0]: match for match in LOG_CPU.finditer(log.read_text(errors="replace"))}
    for match in lines.values():
        embedded += int(match[1])
        loading += float(match[2])
        writing += float(match[3])
    return int(embedded), loading, writing


def postmaster_pid() -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (its data directory is readable)."""
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('data_directory', true)")
        data_dir = cursor.fetchone()[0]
    try:
        return int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
    except (OSError, TypeError, ValueError, IndexError):
        return None


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class RssSampler(threading.Thread):
    """Peak RSS of a process tree (the largest child alone and the whole tree), every 0.1 s.

    Also the CPU seconds of the worker's pool child and of PostgreSQL's processes
    (backends come and go: each is counted from when it is first seen) from ``mark()``.
    """

    def __init__(self, pid: int, postgres: int | None) -> None:
        super().__init__(daemon=True)
        self.pid, self.postgres, self.stop = pid, postgres, threading.Event()
        self.cpu_start: dict[int, float] = {}  # pid -> CPU seconds at mark() or when first seen after it
        self.cpu_last: dict[int, float] = {}
        self.child_pid: int | None = None
        self.marked, self.marked_at = False, 0.0
        self.lock = threading.Lock()
        self.kinds: dict[int, str] = {}  # PostgreSQL pid -> backends, background or autovacuum
        self.peak_child = self.peak_total = self.peak_child_uss = 0
        self.peak_child_file = 0  # the file-backed part (shared libraries) of the child's RSS at its peak

    def run(self) -> None:
        ticks = 0
        while not self.stop.is_set():
            try:
                parent = psutil.Process(self.pid)
                children = parent.children(recursive=True)
                infos = [c.memory_info() for c in children]
                rss = [m.rss for m in infos]
                for m in infos:
                    if m.rss > self.peak_child:
                        self.peak_child, self.peak_child_file = m.rss, m.shared
                self.peak_total = max(self.peak_total, parent.memory_info().rss + sum(rss))
                if ticks % 5 == 0:  # USS reads /proc/PID/smaps: slower, so twice a second
                    self.peak_child_uss = max(
                        [self.peak_child_uss, *(c.memory_full_info().uss for c in children)]
                    )
                if children:
                    self.child_pid = max(children, key=lambda c: c.memory_info().rss).pid
            except psutil.NoSuchProcess:
                pass
            if self.marked:
                self._sample_cpu()
            ticks += 1
            self.stop.wait(0.1)

    def _processes(self) -> list[psutil.Process]:
        found = [psutil.Process(self.child_pid)] if self.child_pid else []
        if self.postgres:
            try:
                server = psutil.Process(self.postgres)
                found += [server, *server.children()]
            except psutil.NoSuchProcess:
                pass
        return found

    def _sample_cpu(self) -> None:
        with self.lock:
            for process in self._processes():
                try:
                    seconds = cpu_seconds(process)
                    if process.pid not in self.cpu_start:  # a backend started since mark() counts from 0
                        new = process.create_time() >= self.marked_at
                        self.cpu_start[process.pid] = 0.0 if new else seconds
                        if process.pid != self.child_pid:
                            self.kinds[process.pid] = _postgres_kind(process)
                except psutil.NoSuchProcess:
                    continue
                self.cpu_last[process.pid] = seconds

    def mark(self) -> None:
        """Start counting CPU now."""
        self.marked_at = time.time() - 0.01
        self.marked = True
        self._sample_cpu()

    def cpu(self) -> tuple[float, float]:
        """CPU seconds since ``mark()``: the worker's pool child, PostgreSQL's processes."""
        child, postgres = self.cpu_by_kind()
        return child, sum(postgres.values())

    def cpu_by_kind(self) -> tuple[float, dict[str, float]]:
        """CPU seconds since ``mark()``: the pool child, and PostgreSQL's by kind of process.

        ``backends`` run the queries (row writes, index inserts, WAL records);
        ``background`` are the WAL writer, checkpointer and background writer
        (flushing WAL and pages); ``autovacuum`` cleans up after updates.
        """
        self._sample_cpu()
        with self.lock:
            used = {pid: self.cpu_last[pid] - start for pid, start in self.cpu_start.items()}
            kinds = dict(self.kinds)
        child = used.pop(self.child_pid, 0.0)
        postgres = {"backends": 0.0, "background": 0.0, "autovacuum": 0.0}
        for pid, seconds in used.items():
            postgres[kinds.get(pid, "background")] += seconds
        return child, postgres


def _postgres_kind(process: psutil.Process) -> str:
    """What a PostgreSQL process does, from the title it sets (``postgres: walwriter``, ``postgres: user db ...``)."""
    try:
        title = " ".join(process.cmdline())
    except psutil.Error:
        return "background"
    if "autovacuum" in title:
        return "autovacuum"
    if any(name in title for name in ("walwriter", "checkpointer", "background writer", "walsender", "archiver")):
        return "background"
    if title.startswith("postgres:") and ("[local]" in title or "(" in title or "parallel worker" in title):
        return "backends"
    return "background"  # the postmaster, logger, io workers


def start_worker(dataset: Path, log: Path, queue: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bulk_settings",
        "VISUAL_SEARCH_BENCH_DB": DATABASE,
        "VISUAL_SEARCH_BENCH_MEDIA": str(dataset),
        "VISUAL_SEARCH_BENCH_QUEUE": queue,
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--loglevel=INFO",
        "-Q",
        queue,
        "-n",
        f"{queue}@localhost",
        "--without-mingle",
        "--without-gossip",
    ]
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(predicate, timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"Timed out waiting for {what}")
        time.sleep(0.1)
    return time.perf_counter() - start


def run(dataset: Path, limit: int, without_index: bool = False, defer_index: bool = False) -> dict:
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    queue = f"vs-bench-{uuid.uuid4().hex[:8]}"
    setup_django(dataset, queue)
    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.indexing.jobs import start_job  # noqa: PLC0415
    from visual_search.models import BulkJob, BulkJobMode, BulkJobState  # noqa: PLC0415

    pks = catalogue(dataset, limit)
    from visual_search.indexing import vector_index  # noqa: PLC0415

    encoder = get_encoder()
    if without_index:  # the pipeline without the index's insert cost
        vector_index.drop_hnsw_index(encoder.id, encoder.dimensions)
    else:  # live, or dropped by the job itself as it starts (--defer-index)
        vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions)
    images = decoded(dataset, limit)
    own_before, own_cpu_before = encoder_rate(images)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"visual-search-bench-worker-{os.getpid()}.log"
    started = time.perf_counter()
    worker = start_worker(dataset, log, queue)
    sampler = RssSampler(worker.pid, postmaster_pid())
    sampler.start()
    try:
        warm = wait_for(
            lambda: "Encoder(s) loaded" in log.read_text(errors="replace"), 300, "the worker's model"
        )
        loaded_rss = sampler.peak_child  # the child with its model loaded and traced, before any work
        sampler.mark()
        started_job = time.perf_counter()
        # As the admin starts one: the job's rows, (with --defer-index) the index dropped, a drain sent.
        job, _ = start_job(BulkJobMode.FORCE)
        if defer_index and not job.index_deferred:
            raise SystemExit("The job did not defer the index (is the encoder read by searches?)")
        wait_for(lambda: BulkJob.objects.get(pk=job.pk).state == BulkJobState.FINISHED, 3600, "the job")
        build_seconds = build_cpu = None
        if defer_index:  # the worker builds the index once the job ends (a task sent then): wait for it too
            finished_at, (_, pg_at_finish) = time.perf_counter(), sampler.cpu_by_kind()
            wait_for(lambda: not BulkJob.objects.filter(index_deferred=True).exists()
                     and vector_index.index_exists(encoder.id, encoder.dimensions), 3600, "the index build")
            build_seconds = time.perf_counter() - finished_at
            build_cpu = sampler.cpu_by_kind()[1]["backends"] - pg_at_finish["backends"]
        elapsed = time.perf_counter() - started_job
        child_cpu, postgres_by_kind = sampler.cpu_by_kind()
        postgres_cpu = sum(postgres_by_kind.values())
        job.refresh_from_db()
    finally:
        sampler.stop.set()
        worker.terminate()
        worker.wait(timeout=60)
    end_to_end = len(pks) / elapsed
    own_after, own_cpu_after = encoder_rate(images)  # the load drifts: measure the encoder on both sides
    own = (own_before + own_after) / 2
    batches = len(pks) / int(vs_settings.BATCH_SIZE)  # of BATCH_SIZE images: what the CPU figures are per
    logged, loading, writing = worker_cpu(log)
    return {
        "photos": len(images),
        "batches": batches,
        "inference_batch": int(vs_settings.INFERENCE_BATCH_SIZE),
        "encoder_ips": own,
        "encoder_before": own_before,
        "encoder_after": own_after,
        "bulk_ips": end_to_end,
        "ratio": end_to_end / own,
        "peak_child_uss_mib": sampler.peak_child_uss / MIB,
        "done": job.done,
        "failed": job.failed,
        "elapsed": elapsed,
        "worker_ready_s": warm,
        "peak_child_mib": sampler.peak_child / MIB,
        "peak_child_file_mib": sampler.peak_child_file / MIB,
        "loaded_child_mib": loaded_rss / MIB,
        "peak_total_mib": sampler.peak_total / MIB,
        "index": "deferred" if defer_index else ("none" if without_index else "live"),
        "index_build_seconds": build_seconds,
        "index_build_cpu_per_image": None if build_cpu is None else build_cpu / len(pks),
        "cpu_postgres_by_kind": {k: v / batches for k, v in postgres_by_kind.items()} if sampler.postgres else None,
        # CPU seconds per batch of BATCH_SIZE images
        "cpu_encoder": (own_cpu_before + own_cpu_after) / 2,
        "cpu_child": child_cpu / batches,
        "cpu_loading": loading / batches,
        "cpu_writing": writing / batches,
        "cpu_inference": (child_cpu - loading - writing) / batches,
        "cpu_postgres": postgres_cpu / batches if sampler.postgres else None,
        "wall_per_batch": elapsed / batches,
        "logged": logged,
        "load": os.getloadavg(),
        "cpus": os.cpu_count(),
        "start": started,
        "log": str(log),
    }


INDEX_NOTES = {"live": "", "none": ", NO HNSW index", "deferred": ", HNSW index built once after the job"}


def table(r: dict) -> str:
    return "\n".join(
        [
            "| measure | value |",
            "|---|---|",
            f"| photos (clothing-small, real JPEGs about 400x533) | {r['photos']:,} |",
            f"| encoder alone, decoded images, calls of 32 (forward passes of {r['inference_batch']}): before / after the bulk run | "
            f"{r['encoder_before']:.1f} / {r['encoder_after']:.1f} images/s (mean {r['encoder_ips']:.1f}) |",
            f"| bulk re-embed end to end (files to PostgreSQL rows{INDEX_NOTES[r['index']]}), "
        f"1 worker, concurrency 1 | {r['bulk_ips']:.1f} images/s |",
            f"| **end to end / encoder alone (mean)** | **{100 * r['ratio']:.0f}%** |",
            f"| job result | {r['done']:,} done, {r['failed']} failed in {r['elapsed']:.1f} s |",
            f"| worker start to model loaded in its child | {r['worker_ready_s']:.1f} s |",
            f"| worker peak RSS: pool child / parent + child | {r['peak_child_mib']:.0f} MiB / {r['peak_total_mib']:.0f} MiB |",
            f"| pool child's peak RSS before the job (model loaded and traced) | {r['loaded_child_mib']:.0f} MiB |",
            f"| pool child's RSS at its peak: anonymous / file-backed (library pages) | "
            f"{r['peak_child_mib'] - r['peak_child_file_mib']:.0f} MiB / {r['peak_child_file_mib']:.0f} MiB |",
            f"| pool child's peak USS (its own pages, without shared libraries) | {r['peak_child_uss_mib']:.0f} MiB |",
            f"| load average (1, 5, 15 min) at the end, {r['cpus']} CPUs | {', '.join(f'{x:.1f}' for x in r['load'])} |",
            "",
            "CPU seconds per batch of 32 images (all threads of a process; psutil, and the worker's own log):",
            "",
            "| part | core-seconds per batch |",
            "|---|---:|",
            f"| encoder alone (crop, resize and inference on decoded images) | {r['cpu_encoder']:.2f} |",
            f"| worker child: reading, hashing, decoding, crop and resize (reader threads) | {r['cpu_loading']:.2f} |",
            f"| worker child: inference, planning, claiming, Python (the rest of the child) | {r['cpu_inference']:.2f} |",
            f"| worker child: writing rows, settling requests (writer thread) | {r['cpu_writing']:.2f} |",
            f"| PostgreSQL, all its processes (row inserts{'' if r['index'] == 'none' else ', HNSW index'}, WAL, queries) | "
            + (f"{r['cpu_postgres']:.2f} |" if r["cpu_postgres"] is not None else "not measured (server not local) |"),
            f"| **end to end, worker child + PostgreSQL** | **{r['cpu_child'] + (r['cpu_postgres'] or 0):.2f}** |",
            f"| wall seconds per batch end to end, times {r['cpus']} cores: what the machine had | "
            f"{r['wall_per_batch']:.2f} x {r['cpus']} = {r['wall_per_batch'] * r['cpus']:.2f} |",
        ]
    )


def profile_table(r: dict) -> str:
    """Core-seconds per image by step: the worker's steps timed alone, PostgreSQL's processes during the job."""
    stages, pg, per = r.get("stages") or {}, r.get("cpu_postgres_by_kind") or {}, r["photos"] / r["batches"]
    rows = [("read the file", stages.get("read")), ("hash it (SHA-256)", stages.get("hash")),
            ("decode, shrunk to the encoder's size", stages.get("decode")),
            ("crop and resize to the network's input", stages.get("crop_resize")),
            ("inference", stages.get("inference")),
            ("worker's writer thread: rows to SQL, settling requests", r["cpu_writing"] / per),
            ("PostgreSQL backends: queries, row and index writes, WAL records", pg.get("backends", 0) / per),
            ("of which: the HNSW index built once after the job", r.get("index_build_cpu_per_image")),
            ("PostgreSQL background: WAL writer, checkpointer, background writer", pg.get("background", 0) / per),
            ("PostgreSQL autovacuum", pg.get("autovacuum", 0) / per)]
    lines = ["| step | core-ms per image |", "|---|---:|"]
    lines += [f"| {name} | {1000 * value:.2f} |" for name, value in rows if value is not None]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=10_000, help="at most this many photos (default: all)")
    parser.add_argument("--inference-batch-size", type=int,
                        help="forward passes of this many images, in the worker and the encoder alone "
                        "(default: INFERENCE_BATCH_SIZE)")
    parser.add_argument("--output", type=Path, help="write the Markdown table here too")
    parser.add_argument("--json", type=Path, help="write what was measured here too, as JSON")
    parser.add_argument("--without-index", action="store_true",
                        help="drop the encoder's HNSW index first (a diagnostic: the pipeline without its cost)")
    parser.add_argument("--defer-index", action="store_true",
                        help="let the job defer the encoder's HNSW index (BULK_DEFER_INDEX_MIN: dropped as it starts, "
                        "built by the worker once it ends), the build's CPU and time counted; otherwise it stays live")
    parser.add_argument("--stages", action="store_true",
                        help="also time each step (read, hash, decode, crop and resize, inference) in this process")
    parser.add_argument("--runtime", choices=["tflite", "keras"],
                        help="run the encoder, here and in the worker, with this runtime (default: the encoder's)")
    args = parser.parse_args()
    if args.runtime:  # read by setup_django here and by bulk_settings in the worker
        os.environ["BENCH_ENCODER_RUNTIME"] = args.runtime
    if args.defer_index:  # read by setup_django here and by bulk_settings in the worker
        os.environ["BENCH_DEFER_INDEX"] = "1"
    if args.inference_batch_size:  # read by setup_django here and by bulk_settings in the worker
        os.environ["VISUAL_SEARCH_BENCH_INFERENCE_BATCH"] = str(args.inference_batch_size)
    result = run(args.dataset, args.limit, args.without_index, args.defer_index)
    if args.stages:
        result["stages"] = stage_profile(args.dataset, args.limit)
    text = table(result)
    if result.get("stages") or result.get("cpu_postgres_by_kind"):
        text += "\n\n" + profile_table(result)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(as_json(result), indent=2) + "\n")


def as_json(r: dict) -> dict:
    """The run in machine-readable form: per-image core-seconds beside everything ``run()`` measured."""
    batch = r["photos"] / r["batches"]
    end_to_end = r["cpu_child"] + (r["cpu_postgres"] or 0)
    return {
        "benchmark": "bulk",
        "images": r["done"] + r["failed"],
        "wall_seconds": r["elapsed"],
        "images_per_second": r["bulk_ips"],
        "encoder_images_per_second": r["encoder_ips"],
        "encoder_core_seconds_per_image": r["cpu_encoder"] / batch,
        "end_to_end_core_seconds_per_image": end_to_end / batch,
        "end_to_end_over_encoder": end_to_end / r["cpu_encoder"],
        "postgres_measured": r["cpu_postgres"] is not None,
        **{key: value for key, value in r.items() if key not in ("start",)},
    }


if __name__ == "__main__":
    main()
