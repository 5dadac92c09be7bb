"""Bulk re-embed throughput: the encoder alone against a real worker re-embedding into PostgreSQL.

In one run, on the same photos: (1) the encoder's own images/s, embedding
already-decoded images in batches of BATCH_SIZE in this process; (2) a forced
bulk job (a ``BulkJob`` and its ``SyncRequest`` rows, as the admin starts one)
drained by one real ``celery worker`` (prefork, concurrency 1), from the job's
kick until it is finished: reading the files, decoding, inference and writing
the rows. The worker's RSS (parent and pool child) is sampled with psutil
throughout. The catalogue's products point at the dataset's own files.

    .venv/bin/python benchmarks/bulk.py --limit 1500 --output /tmp/bulk.md
"""

from __future__ import annotations

import argparse
import os
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
    db["NAME"] = DATABASE
    settings.MEDIA_ROOT = str(dataset)
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False, "TASK_QUEUE": queue}
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


def encoder_rate(images: list) -> float:
    """The encoder's own images/s on the same photos, decoded beforehand, called as the worker calls it."""
    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.encoders import get_encoder  # noqa: PLC0415

    encoder, batch = get_encoder(), int(vs_settings.BATCH_SIZE)
    inference = int(vs_settings.INFERENCE_BATCH_SIZE)  # the forward-pass size the worker uses too
    encoder.embed(images[:batch], batch_size=inference)  # warm-up: model built, graph traced
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        encoder.embed(images[i : i + batch], batch_size=inference)
    return len(images) / (time.perf_counter() - start)


class RssSampler(threading.Thread):
    """Peak RSS of a process tree: the largest child alone and the whole tree, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.peak_child = self.peak_total = self.peak_child_uss = 0

    def run(self) -> None:
        ticks = 0
        while not self.stop.is_set():
            try:
                parent = psutil.Process(self.pid)
                children = parent.children(recursive=True)
                rss = [c.memory_info().rss for c in children]
                self.peak_child = max([self.peak_child, *rss])
                self.peak_total = max(self.peak_total, parent.memory_info().rss + sum(rss))
                if ticks % 5 == 0:  # USS reads /proc/PID/smaps: slower, so twice a second
                    self.peak_child_uss = max(
                        [self.peak_child_uss, *(c.memory_full_info().uss for c in children)]
                    )
            except psutil.NoSuchProcess:
                pass
            ticks += 1
            self.stop.wait(0.1)


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


def run(dataset: Path, limit: int, without_index: bool = False) -> dict:
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    queue = f"vs-bench-{uuid.uuid4().hex[:8]}"
    setup_django(dataset, queue)
    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.models import BulkJob, BulkJobMode, BulkJobState  # noqa: PLC0415
    from visual_search.outbox import request_sync  # noqa: PLC0415
    from visual_search.tasks import kick  # noqa: PLC0415

    pks = catalogue(dataset, limit)
    from visual_search import vector_index  # noqa: PLC0415

    encoder = get_encoder()
    if without_index:  # to separate the pipeline's own cost from the HNSW index's insert cost
        vector_index.drop_hnsw_index(encoder.id, encoder.dimensions)
    else:
        vector_index.ensure_hnsw_index(encoder.id, encoder.dimensions)
    images = decoded(dataset, limit)
    own_before = encoder_rate(images)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"visual-search-bench-worker-{os.getpid()}.log"
    started = time.perf_counter()
    worker = start_worker(dataset, log, queue)
    sampler = RssSampler(worker.pid)
    sampler.start()
    try:
        warm = wait_for(
            lambda: "Encoder(s) loaded" in log.read_text(errors="replace"), 300, "the worker's model"
        )
        job = BulkJob.objects.create(mode=BulkJobMode.FORCE, encoder=get_encoder().id, total=len(pks))
        request_sync(pks, force=True, job=job)
        kick(job)
        elapsed = wait_for(
            lambda: BulkJob.objects.get(pk=job.pk).state == BulkJobState.FINISHED, 3600, "the job"
        )
        job.refresh_from_db()
    finally:
        sampler.stop.set()
        worker.terminate()
        worker.wait(timeout=60)
    end_to_end = len(pks) / elapsed
    own_after = encoder_rate(images)  # the machine's load drifts: measure the encoder on both sides
    own = (own_before + own_after) / 2
    return {
        "photos": len(images),
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
        "peak_total_mib": sampler.peak_total / MIB,
        "index": not without_index,
        "load": os.getloadavg(),
        "cpus": os.cpu_count(),
        "start": started,
        "log": str(log),
    }


def table(r: dict) -> str:
    return "\n".join(
        [
            "| measure | value |",
            "|---|---|",
            f"| photos (clothing-small, real JPEGs about 400x533) | {r['photos']:,} |",
            f"| encoder alone, decoded images, calls of 32 (forward passes of 8): before / after the bulk run | "
            f"{r['encoder_before']:.1f} / {r['encoder_after']:.1f} images/s (mean {r['encoder_ips']:.1f}) |",
            f"| bulk re-embed end to end (files to PostgreSQL rows{'' if r['index'] else ', NO HNSW index'}), "
        f"1 worker, concurrency 1 | {r['bulk_ips']:.1f} images/s |",
            f"| **end to end / encoder alone (mean)** | **{100 * r['ratio']:.0f}%** |",
            f"| job result | {r['done']:,} done, {r['failed']} failed in {r['elapsed']:.1f} s |",
            f"| worker start to model loaded in its child | {r['worker_ready_s']:.1f} s |",
            f"| worker peak RSS: pool child / parent + child | {r['peak_child_mib']:.0f} MiB / {r['peak_total_mib']:.0f} MiB |",
            f"| pool child's peak USS (its own pages, without shared libraries) | {r['peak_child_uss_mib']:.0f} MiB |",
            f"| load average (1, 5, 15 min) at the end, {r['cpus']} CPUs | {', '.join(f'{x:.1f}' for x in r['load'])} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=10_000, help="at most this many photos (default: all)")
    parser.add_argument("--output", type=Path, help="write the Markdown table here too")
    parser.add_argument("--without-index", action="store_true",
                        help="drop the encoder's HNSW index first (a diagnostic: the pipeline without its cost)")
    args = parser.parse_args()
    result = run(args.dataset, args.limit, args.without_index)
    text = table(result)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
