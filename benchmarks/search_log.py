"""What the search log costs a search: similar_products() + result page, with and without record_search().

Usage: ``.venv/bin/python benchmarks/search_log.py [--products 10000] [--queries 400] [--json PATH]``

A benchmark database of ``--products`` products with random unit vectors under the app's
default encoder (the log's cost does not depend on what the vectors are), indexed as a
deployment would be. Each query product is searched twice in alternating order, once
with the log off (the baseline: what a shop has without analytics) and once with it on;
the report gives p50/p95 of both, the p95 overhead, and ``record_search()`` alone in
wall time, this process's CPU and the PostgreSQL backend's CPU (from /proc via psutil).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

DATABASE = "visual_search_bench_search_log"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--json", type=Path, dest="json_path", help="Write the figures here.")
    args = parser.parse_args()

    from benchmarks.search_latency import load_products, setup_django  # noqa: PLC0415

    setup_django(DATABASE)
    import psutil  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415
    from django.test import RequestFactory  # noqa: PLC0415

    from benchmarks.vectors import build_index, load_vectors  # noqa: PLC0415
    from visual_search.analytics.log import record_search  # noqa: PLC0415
    from visual_search.analytics.models import SearchEvent  # noqa: PLC0415
    from visual_search.conf import vs_settings  # noqa: PLC0415
    from visual_search.encoders import get_encoder  # noqa: PLC0415
    from visual_search.search.results import build_result_page  # noqa: PLC0415
    from visual_search.search.service import similar_products  # noqa: PLC0415

    rng = np.random.default_rng(0)
    encoder = get_encoder()
    pks, _ = load_products(args.products, rng)
    vectors = rng.standard_normal((args.products, encoder.dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    from visual_search.indexing import vector_index  # noqa: PLC0415

    vector_index.drop_hnsw_index(encoder.id, encoder.dimensions)  # load first, then build, as a deployment does
    load_vectors(pks, vectors, encoder)
    build_index(encoder, int(vs_settings.HNSW_M), int(vs_settings.HNSW_EF_CONSTRUCTION))
    SearchEvent.objects.all().delete()
    request = RequestFactory().get("/api/v1/products/1/similar/", REMOTE_ADDR="203.0.113.7")
    queries = rng.choice(pks, size=args.queries, replace=False).tolist()
    connection.ensure_connection()
    backend = psutil.Process(connection.cursor().connection.info.backend_pid)

    def search(pk, log: bool) -> float:
        start = time.perf_counter()
        trace: dict = {}
        page = build_result_page(similar_products(pk, 12, trace=trace))
        if log:
            record_search(request, "api_similar", page, k=12, trace=trace, query_product=pk)
        return (time.perf_counter() - start) * 1000

    off, on, log_wall = [], [], []
    for pk in queries[:10]:  # warm plans, caches and the connection
        search(pk, True)
    for i, pk in enumerate(queries):
        order = (False, True) if i % 2 else (True, False)  # alternate, so drift hits both alike
        for log in order:
            (on if log else off).append(search(pk, log))
    # record_search() alone, on a realistic page of 12 results.
    page = build_result_page(similar_products(queries[0], 12))
    cpu_before, backend_before = time.process_time(), sum(backend.cpu_times()[:2])
    for _ in range(args.queries):
        start = time.perf_counter()
        record_search(request, "api_similar", page, k=12, trace={"encoder": encoder.id, "query_ms": 5.0})
        log_wall.append((time.perf_counter() - start) * 1000)
    process_cpu_ms = (time.process_time() - cpu_before) * 1000 / args.queries
    backend_cpu_ms = (sum(backend.cpu_times()[:2]) - backend_before) * 1000 / args.queries

    def pct(values, q):
        return float(np.percentile(values, q))

    figures = {
        "products": args.products, "queries": args.queries, "machine": platform.processor() or platform.machine(),
        "search_without_log_ms": {"p50": pct(off, 50), "p95": pct(off, 95)},
        "search_with_log_ms": {"p50": pct(on, 50), "p95": pct(on, 95)},
        "p95_overhead_ms": pct(on, 95) - pct(off, 95),
        "record_search_ms": {"p50": pct(log_wall, 50), "p95": pct(log_wall, 95)},
        "record_search_cpu_ms": {"web_process": process_cpu_ms, "postgresql_backend": backend_cpu_ms},
    }
    print(f"{args.products} products, {args.queries} queries, each with the log off and on (alternating)")
    print(f"similar_products + result page, log off: p50 {figures['search_without_log_ms']['p50']:.2f} ms, "
          f"p95 {figures['search_without_log_ms']['p95']:.2f} ms")
    print(f"similar_products + result page, log on:  p50 {figures['search_with_log_ms']['p50']:.2f} ms, "
          f"p95 {figures['search_with_log_ms']['p95']:.2f} ms  (p95 overhead {figures['p95_overhead_ms']:+.2f} ms)")
    print(f"record_search() alone: p50 {figures['record_search_ms']['p50']:.2f} ms, "
          f"p95 {figures['record_search_ms']['p95']:.2f} ms; CPU per call {process_cpu_ms:.2f} ms here + "
          f"{backend_cpu_ms:.2f} ms in PostgreSQL")
    if args.json_path:
        args.json_path.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
