"""Load test: gunicorn with several workers on 127.0.0.1, clients mixing search by photo and similar products.

The catalogue is the demo's (240 curated clothing-small photos, ``seed_demo``),
embedded by the default encoder in a database of its own
(``visual_search_load``). Queries are clothing-small's test photos, uploaded as
they are (400 x 534 JPEGs, 20-60 kB). Each client keeps one connection and,
for ``--seconds``, sends either ``POST /api/v1/search/image/`` or
``GET /api/v1/products/<pk>/similar/`` (half each, at random), one after the
other. Reported: requests/s, p50/p95/p99 per kind, errors (anything but 200),
and the web workers' peak RSS (sampled every 100 ms).

    .venv/bin/python benchmarks/load.py --output /tmp/load.md
    .venv/bin/python benchmarks/load.py --runtime keras --output /tmp/load-keras.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "visual_search_load"
DEFAULT_PHOTOS = ROOT.parent / "shared" / "datasets" / "clothing-small" / "test"


def database_url() -> str:
    """The embedded PostgreSQL's URL for the load database, created if missing."""
    sys.path.insert(0, str(ROOT))
    import psycopg  # noqa: PLC0415

    from config import embedded  # noqa: PLC0415

    db = embedded.postgres_database()
    with psycopg.connect(
        dbname="postgres", user=db["USER"], host=db["HOST"], port=db["PORT"] or None, autocommit=True
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    port = f"&port={db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}@/{DATABASE}?host={db['HOST']}{port}"


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def client_loop(
    port: int, deadline: float, photos: list[bytes], pks: list[str], seed: int, out: list
) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < deadline:
        kind = rng.choice(("search", "similar"))
        started = time.monotonic()
        try:
            if kind == "search":
                body, content_type = multipart(rng.choice(photos))
                connection.request(
                    "POST", "/api/v1/search/image/", body=body, headers={"Content-Type": content_type}
                )
            else:
                connection.request("GET", f"/api/v1/products/{rng.choice(pks)}/similar/?k=12")
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = f"{type(exc).__name__}"
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        out.append((kind, status, time.monotonic() - started, started))
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--photos", type=Path, default=DEFAULT_PHOTOS, help="folder of query photos (recursive)"
    )
    parser.add_argument("--runtime", choices=["tflite", "keras"],
                        help="how the encoder runs in the web workers (default: its own default, tflite)")
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    args = parser.parse_args()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.load_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "memory://",
        "PYTHONPATH": str(ROOT),
        **({"BENCH_ENCODER_RUNTIME": args.runtime} if args.runtime else {}),
    }
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "seed_demo")
    manage(env, "visual_search_reembed", "--sync", "-v", "0")

    photos = [p.read_bytes() for p in sorted(args.photos.rglob("*.jpg"))]
    if not photos:
        sys.exit(f"No JPEG photos under {args.photos}; pass --photos DIR.")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(args.workers),
            "GUNICORN_THREADS": str(args.threads),
        },
    )
    try:
        pks = wait_ready(port, gunicorn, args.workers)
        results, peaks, load_before = run(port, gunicorn, args, photos, pks)
        report = summarise(results, peaks, args, load_before, len(photos), len(pks))
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
    print(report)
    if args.output:
        args.output.write_text(report)


def wait_ready(port: int, gunicorn: subprocess.Popen, workers: int) -> list[str]:
    """Wait until every worker has warmed its encoder; return the catalogue's product keys."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if gunicorn.poll() is not None:
            sys.exit(f"gunicorn exited with {gunicorn.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/v1/schema/?format=json")
            if (
                connection.getresponse().status == 200
                and len(psutil.Process(gunicorn.pid).children()) == workers
            ):
                break
        except OSError:
            pass
        time.sleep(1)
    time.sleep(5)  # every worker past its warm-up, not only the first
    script = (
        "import django; django.setup(); from shop.models import Product; "
        "print(' '.join(str(pk) for pk in Product.objects.values_list('pk', flat=True)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.load_settings", "DATABASE_URL": database_url()}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return out.split()


def run(port, gunicorn, args, photos, pks):
    workers = psutil.Process(gunicorn.pid).children()
    peaks = {w.pid: w.memory_info().rss for w in workers}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for worker in workers:
                try:
                    peaks[worker.pid] = max(peaks[worker.pid], worker.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    load_before = os.getloadavg()
    deadline = time.monotonic() + args.seconds
    outs = [[] for _ in range(args.clients)]
    clients = [
        threading.Thread(target=client_loop, args=(port, deadline, photos, pks, i, outs[i]))
        for i in range(args.clients)
    ]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    stop.set()
    sampler.join()
    return [r for out in outs for r in out], peaks, load_before


def summarise(results, peaks, args, load_before, n_photos, n_products) -> str:
    elapsed = max(r[3] + r[2] for r in results) - min(r[3] for r in results)
    by_kind = defaultdict(list)
    for kind, status, latency, _ in results:
        by_kind[kind].append((status, latency))
    errors = sum(status != 200 for _, status, _, _ in results)
    lines = [
        f"{args.clients} clients for {args.seconds:.0f} s against gunicorn on 127.0.0.1 "
        f"({args.workers} workers x {args.threads} threads, config/gunicorn.conf.py; encoder runtime "
        f"{args.runtime or 'tflite (default)'}); "
        f"catalogue {n_products} products, "
        f"{n_photos} query photos; {os.cpu_count()} CPUs; load average before {load_before[0]:.2f}, "
        f"after {os.getloadavg()[0]:.2f}.",
        "",
        "| requests | requests/s | kind | p50 ms | p95 ms | p99 ms | errors |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for kind, rows in [("all", [(s, t) for s, t in sum(by_kind.values(), [])]), *sorted(by_kind.items())]:
        latencies = np.array([t for _, t in rows]) * 1000
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
        kind_errors = sum(s != 200 for s, _ in rows)
        lines.append(
            f"| {len(rows)} | {len(rows) / elapsed:.1f} | {kind} | {p50:.0f} | {p95:.0f} | {p99:.0f} | "
            f"{kind_errors} |"
        )
    statuses = defaultdict(int)
    for _, status, _, _ in results:
        statuses[status] += 1
    lines += [
        "",
        f"Statuses: {json.dumps(statuses)}; errors: {errors}.",
        "Web workers' peak RSS: " + ", ".join(f"{rss / 2**20:.0f} MiB" for rss in peaks.values()) + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
