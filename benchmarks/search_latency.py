"""Search latency and recall at scale, against exact search and a numpy brute-force baseline.

The catalogue: clothing-small's train + validation photos embedded with the
default encoder (EfficientNet-Lite0), grown to ``--scale`` products with small
perturbations (``search_benchmark.perturbed_copies``), in a dedicated database
(``visual_search_bench_latency``). Categories are drawn at random, uncorrelated
with the vectors (the hard case for a filtered index walk): 10% "ten", 1% "one",
the rest "other". For each HNSW build in ``--hnsw`` and each ``--ef-search``:

- ``similar_products()`` for random products, unfiltered, category "ten" and
  category "one": p50/p95/p99 and recall@12 against the exact answer, by id and
  by distance (ann-benchmarks: a result counts when its cosine distance is within
  the exact 12th + ``EPSILON``, 0.001), both from the same calls;
- the numpy baseline (all vectors ranked in memory) on the same queries.

Then, with the last build, search by photo through gunicorn
(``config/gunicorn.conf.py``, one worker): 1-megapixel JPEG uploads of test
photos to JSON responses, and the first search after a fresh worker starts,
with and without the warm-up hook; once with the encoder's default runtime
(TF Lite) and once with the Keras graph a user would otherwise call.

    .venv/bin/python benchmarks/search_latency.py --output /tmp/latency.md
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

DATABASE = "visual_search_bench_latency"
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"
K = 12
SHARES = {"ten": 0.10, "one": 0.01}


def setup_django(database: str = DATABASE, settings_module: str = "benchmarks.latency_settings") -> dict:
    """Django on ``settings_module`` (default: the app's default encoder), pointed at ``database``
    (created and migrated here)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django  # noqa: PLC0415
    import psycopg  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    db = settings.DATABASES["default"]  # reading settings starts the embedded server when needed
    params = {"dbname": "postgres", "user": db.get("USER") or None, "host": db.get("HOST") or None,
              "port": db.get("PORT") or None, "password": db.get("PASSWORD") or None}
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    db["NAME"] = database  # before the first connection: nothing here touches the demo's data
    django.setup()
    call_command("migrate", verbosity=0)
    return db


def embeddings(dataset: Path, encoder) -> np.ndarray:
    """Catalogue vectors, from similarity_floor.py's cache when it ran before."""
    from benchmarks.similarity_floor import CACHE, embed_files, photos  # noqa: PLC0415

    return embed_files(encoder, photos(dataset, ("train", "validation")), CACHE / f"floor-catalogue-{encoder.id}.npz")


def load_products(n: int, rng: np.random.Generator, write: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Replace the demo shop's tables with ``n`` products (set-based SQL); return pks and category names."""
    from django.db import connection  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    draw = rng.random(n)
    categories = np.where(draw < SHARES["ten"], "ten", np.where(draw < SHARES["ten"] + SHARES["one"], "one", "other"))
    ids = {"ten": 1, "one": 2, "other": 3}
    pks = np.arange(1, n + 1)
    now = timezone.now()
    if not write:
        return pks, categories
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE visual_search_productimageembedding, shop_productimage, shop_product, "
                       "shop_category RESTART IDENTITY CASCADE")
        cursor.execute("INSERT INTO shop_category (id, name, slug) VALUES (1, 'ten', 'ten'), (2, 'one', 'one'), "
                       "(3, 'other', 'other')")
        cursor.execute(
            "INSERT INTO shop_product (id, name, slug, description, price, in_stock, category_id, image, "
            "created_at, updated_at) SELECT id, 'Product ' || id, 'p-' || id, '', 10, true, c, '', %s, %s "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS t(id, c)",
            [now, now, pks.tolist(), [ids[c] for c in categories]],
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('shop_product', 'id'), %s)", [n])
    return pks, categories


def relation_sizes(encoder) -> dict:
    """Bytes on disk of the embedding table (with its TOAST) and of the encoder's HNSW index."""
    from django.db import connection  # noqa: PLC0415

    from visual_search.indexing import vector_index  # noqa: PLC0415
    from visual_search.models import ProductImageEmbedding  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_table_size(%s), pg_relation_size(%s)",
                       [ProductImageEmbedding._meta.db_table, vector_index.index_name(encoder.id, encoder.dimensions)])
        table, index = cursor.fetchone()
    return {"table_bytes": table, "index_bytes": index}


def measure_similar(categories, queries, ef_search: int, *, index=None, truth=None, options=None,
                    names=("none", "ten", "one")) -> list[tuple]:
    """Rows (filter, share, ours Timing, recall, distance recalls, numpy Timing or None) for
    similar_products() at one ef_search.

    Recall is against ``index`` (the numpy baseline, timed on the same queries) when the catalogue
    fits in memory, else against ``truth`` (filter name to the exact top-k per query, from
    ``exact_top_blocks``). ``options`` override more VISUAL_SEARCH settings. Both recalls come from
    the same calls: by id (``recall_at``) and by distance (``distance_recall_at``, a dict epsilon to
    recall, the cosine distances from the float32 vectors: ``index``'s, else the stored ones).
    """
    from django.conf import settings  # noqa: PLC0415
    from django.test.utils import override_settings  # noqa: PLC0415

    from benchmarks.vectors import EPSILON, distance_ratio, distance_recall_at, recall_at, time_calls  # noqa: PLC0415
    from visual_search.search.service import similar_products  # noqa: PLC0415

    rows = []
    for name in names:
        filters = None if name == "none" else {"category__slug": name}
        mask = None if name == "none" else categories == name
        with override_settings(VISUAL_SEARCH={**settings.VISUAL_SEARCH, "HNSW_EF_SEARCH": ef_search,
                                              **(options or {})}):
            ours = time_calls(lambda pk: [r.product.pk for r in similar_products(pk, K, filters)], queries)
        naive = None
        if index is not None:
            naive = time_calls(lambda pk: index.top(index.vectors[pk - 1], K, mask, exclude=pk), queries)
            expected = naive.results
        else:
            expected = truth[name]
        share = 1.0 if mask is None else float(mask.mean())
        wanted = sorted({int(p) for p in queries} | {int(p) for r in ours.results for p in r}
                        | {int(p) for r in expected for p in r})
        if index is not None:
            stored = index.vectors[np.asarray(wanted) - 1]
        else:
            stored = query_vectors(wanted)
        row_of = {pk: i for i, pk in enumerate(wanted)}

        def distances(query, pks, stored=stored, row_of=row_of):
            if not len(pks):
                return np.zeros(0)
            return 1.0 - stored[[row_of[int(p)] for p in pks]] @ stored[row_of[int(query)]]

        found_d = [distances(q, r) for q, r in zip(queries, ours.results, strict=True)]
        truth_d = [distances(q, r) for q, r in zip(queries, expected, strict=True)]
        by_distance = {eps: distance_recall_at(found_d, truth_d, K, eps) for eps in (EPSILON, 0.0, 0.01)}
        by_distance["ratio"] = distance_ratio(found_d, truth_d, K)
        rows.append((name, share, ours, recall_at(ours.results, expected, K), by_distance, naive))
    return rows


def query_vectors(pks) -> np.ndarray:
    """The stored (float32) vectors of these products, in their order."""
    from django.db import connection  # noqa: PLC0415
    from pgvector.psycopg import register_vector  # noqa: PLC0415

    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.connection.cursor() as cursor:
        rows = dict(cursor.execute("SELECT product_id, embedding FROM visual_search_productimageembedding "
                                   "WHERE product_id = ANY(%s)", [list(map(int, pks))]).fetchall())
    return np.stack([np.asarray(rows[int(pk)].to_numpy(), dtype=np.float32) for pk in pks])


def warm_cache(encoder) -> dict:
    """Read the embedding table, the products and the encoder's index from disk into the OS page cache.

    The embedded server has no pg_prewarm (contrib is not in the wheel), so its files are read
    here; what searches touch then moves into shared_buffers at memory speed. A server with
    pg_prewarm would run ``SELECT pg_prewarm('<index>')`` instead (docs/operations.md).
    """
    from django.db import connection  # noqa: PLC0415

    from visual_search.indexing import vector_index  # noqa: PLC0415

    names = ["visual_search_productimageembedding", "shop_product",
             vector_index.index_name(encoder.id, encoder.dimensions)]
    started, total = time.perf_counter(), 0
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        data = Path(cursor.fetchone()[0])
        for name in names:
            cursor.execute("SELECT pg_relation_filepath(%s)", [name])
            base = data / cursor.fetchone()[0]
            for segment in [base, *sorted(base.parent.glob(base.name + ".[0-9]*"))]:
                with open(segment, "rb", buffering=0) as f:
                    while chunk := f.read(1 << 24):
                        total += len(chunk)
    return {"bytes": total, "seconds": time.perf_counter() - started}


def one_megapixel_jpegs(dataset: Path, count: int) -> list[bytes]:
    from PIL import Image  # noqa: PLC0415

    paths = sorted(p for p in (dataset / "test").glob("*/*") if p.is_file())[:count]
    out = []
    for path in paths:
        image = Image.open(path).convert("RGB").resize((1155, 866), Image.BICUBIC)  # 1.0 megapixel
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def serve(db: dict, warm: bool, port: int, runtime: str) -> subprocess.Popen:
    """gunicorn on the benchmark database, one worker, with or without the warm-up hook."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.latency_settings", "BENCH_ENCODER_RUNTIME": runtime,
           "DATABASE_URL": f"postgresql://postgres:@/{db['NAME']}?host={db['HOST']}",
           "DJANGO_DEBUG": "false", "GUNICORN_WORKERS": "1", "GUNICORN_BIND": f"127.0.0.1:{port}"}
    config = ["-c", "config/gunicorn.conf.py"] if warm else ["--workers", "1", "--bind", f"127.0.0.1:{port}"]
    return subprocess.Popen([sys.executable, "-m", "gunicorn", *config, "config.wsgi:application"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_booted(process: subprocess.Popen, warm: bool) -> None:
    """Until the worker has booted (and, with the hook, finished warming up)."""
    marker = "warmed up" if warm else "Booting worker"
    for line in process.stderr:
        if marker in line:
            return
    raise RuntimeError("gunicorn exited before its worker booted")


def measure_http(db: dict, photos: list[bytes], key: str, runtime: str) -> dict:
    """Search-by-photo through gunicorn: the first search of a fresh worker (cold and warmed), then p50/p95/p99."""
    import requests  # noqa: PLC0415

    from benchmarks.vectors import time_calls  # noqa: PLC0415

    headers = {"Authorization": f"Api-Key {key}"}
    out = {}
    for warm, port in ((False, 8791), (True, 8792)):
        process = serve(db, warm, port, runtime)
        try:
            wait_booted(process, warm)
            time.sleep(1.0)  # the worker is idle at its accept loop
            url = f"http://127.0.0.1:{port}/api/v1/search/image/"

            def post(data: bytes, url=url):
                response = requests.post(url, files={"image": ("q.jpg", data, "image/jpeg")}, headers=headers,
                                         timeout=120)
                response.raise_for_status()
                return response.json()["close_match"]

            first = time_calls(post, photos[:1], warmup=0)
            out[f"first_{'warm' if warm else 'cold'}"] = first.millis[0]
            if warm:
                out["timing"] = time_calls(post, photos, warmup=5)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--noise", type=float, default=0.6, help="length of the perturbation of a unit vector")
    parser.add_argument("--hnsw", default="16:64,32:128", help="HNSW builds to compare, m:ef_construction,...")
    parser.add_argument("--ef-search", default="40,100", help="hnsw.ef_search values to sweep per build")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--photos", type=int, default=50,
                        help="1 MP uploads through gunicorn (0: skip); at most 53 under the default upload rate")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the catalogue and index a previous run left (same --scale and --seed); "
                             "--hnsw then only labels it")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--json", type=Path, help="write what was measured here too, as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database", default=DATABASE, help="the benchmark's own database (created here)")
    parser.add_argument("--maintenance-work-mem", default="2GB",
                        help="for the index build: at least the graph (about 3.7 KB a row at 1,280-d, m 32)")
    parser.add_argument("--parallel-workers", type=int, default=2, help="max_parallel_maintenance_workers")
    parser.add_argument("--exact-max", default="",
                        help="EXACT_SEARCH_MAX_PRODUCTS values to compare on the filtered cells (default: the "
                             "setting's): a filter keeping at most this many products is ranked exactly")
    parser.add_argument("--warm", action="store_true",
                        help="read the table and index into the OS page cache before measuring")
    parser.add_argument("--mix", type=float, default=0.0,
                        help="move each copy towards a second random photo by up to this share first (0: "
                             "copies only, the default)")
    parser.add_argument("--base-count", type=int, default=0,
                        help="grow only the first N real vectors (0: all): N = scale / 293 gives a 100,000 "
                             "catalogue the near-duplicate groups of a million")
    parser.add_argument("--rebuild", action="store_true",
                        help="with --reuse: keep the loaded catalogue, but build the --hnsw indexes again")
    parser.add_argument("--hold-max", type=int, default=200_000,
                        help="largest catalogue held in memory for the timed numpy baseline; above it recall "
                             "is against an exact pass over the vectors a block at a time, and numpy is not timed")
    args = parser.parse_args()

    db = setup_django(args.database)
    from benchmarks.vectors import (  # noqa: PLC0415
        EPSILON, ExactIndex, build_index, exact_top_blocks, load_vector_blocks, perturbed_chunks, perturbed_copies,
    )
    from visual_search.encoders import load_encoder  # noqa: PLC0415

    encoder = load_encoder("visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder",
                           {"variant": "lite0", "pooling": "avg"})
    base = embeddings(args.dataset, encoder)
    if args.base_count:
        base = base[:args.base_count]
    rng = np.random.default_rng(args.seed)
    # Categories and queries come from `rng`, the vectors from their own generator: a --reuse run draws the same.
    pks, categories = load_products(args.scale, rng, write=not args.reuse)
    record = {
        "benchmark": "search_latency", "scale": args.scale, "base_vectors": len(base), "noise": args.noise, "mix": args.mix,
        "seed": args.seed, "base_count": len(base), "k": K, "queries": args.queries, "cpus": os.cpu_count(), "machine": platform.machine(),
        "load_average_start": os.getloadavg()[0], "database": args.database, "builds": [],
    }
    with connection_cursor() as cursor:
        cursor.execute("SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', "
                       "'effective_cache_size', 'work_mem', 'max_parallel_maintenance_workers', "
                       "'max_parallel_workers_per_gather')")
        record["server_settings"] = {name: f"{value}{' ' + unit if unit else ''}" for name, value, unit in cursor}
    print(f"server settings: {record['server_settings']}", flush=True)
    if not args.reuse:
        from visual_search.indexing import vector_index  # noqa: PLC0415

        vector_index.drop_hnsw_index(encoder.id, encoder.dimensions)
        start = time.perf_counter()
        load_vector_blocks(((pks[s:s + len(v)], v) for s, v, _ in perturbed_chunks(base, args.scale, args.noise,
                                                                                       args.seed, mix=args.mix)), encoder)
        record["load_seconds"] = time.perf_counter() - start
        print(f"loaded {args.scale:,} vectors in {record['load_seconds']:.1f} s", flush=True)
    queries = rng.choice(pks, size=args.queries, replace=False).tolist()
    index = truth = None
    if not args.ef_search:
        pass  # search by photo only: no recall to compute
    elif args.scale <= args.hold_max:
        vectors, _ = perturbed_copies(base, args.scale, args.noise, args.seed, mix=args.mix)
        index = ExactIndex(pks, vectors)
    else:
        start = time.perf_counter()
        truth = exact_top_blocks(
            query_vectors(queries), queries,
            ((pks[s:s + len(v)], v) for s, v, _ in perturbed_chunks(base, args.scale, args.noise, args.seed,
                                                                    chunk=50_000, mix=args.mix)),
            lambda block: {"none": None, **{name: categories[block - 1] == name for name in SHARES}}, K)
        print(f"exact top-{K} of {args.queries} queries x 3 filters in {time.perf_counter() - start:.1f} s "
              "(numpy, a block at a time)", flush=True)

    lines = [
        f"{args.scale:,} products ({len(base):,} real clothing-small Lite0 vectors + perturbed copies, noise "
        f"{args.noise}, mix {args.mix}); k={K}; recall by id and by cosine distance (a result counts when within "
        f"the exact {K}th distance + {EPSILON:g}, as ann-benchmarks), from the same calls; {args.queries} queries per cell; {platform.machine()}, {os.cpu_count()} cores, "
        f"load average at start {os.getloadavg()[0]:.1f}.",
        "",
        "| HNSW m / ef_construction | build (s) | ef_search | filter (share) | similar_products() p50 / p95 / p99 "
        f"(ms) | recall@12 vs exact, by id | by distance (ε {EPSILON:g}) | numpy baseline p50 / p95 / p99 (ms) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    exact_maxes = [int(x) for x in args.exact_max.split(",") if x] or [None]
    for build in args.hnsw.split(",") if args.ef_search else []:
        m, efc = (int(x) for x in build.split(":"))
        seconds = float("nan") if args.reuse and not args.rebuild else build_index(
            encoder, m, efc, maintenance_work_mem=args.maintenance_work_mem, parallel_workers=args.parallel_workers)
        print(f"HNSW m={m} ef_construction={efc} built in {seconds:.1f} s", flush=True)
        build_record = {"m": m, "ef_construction": efc, "build_seconds": None if np.isnan(seconds) else seconds,
                        **relation_sizes(encoder), "runs": []}
        print(f"sizes: {build_record}", flush=True)
        record["builds"].append(build_record)
        if args.warm:
            record["warm"] = warm_cache(encoder)
            print(f"read {record['warm']['bytes'] / 2**30:.1f} GiB into the page cache in "
                  f"{record['warm']['seconds']:.0f} s", flush=True)
        for ef in (int(x) for x in args.ef_search.split(",")):
            for i, exact_max in enumerate(exact_maxes):
                options = {} if exact_max is None else {"EXACT_SEARCH_MAX_PRODUCTS": exact_max}
                names = ("none", "ten", "one") if i == 0 else ("ten", "one")
                for name, share, ours, recall, by_distance, naive in measure_similar(categories, queries, ef, index=index,
                                                                        truth=truth, options=options, names=names):
                    build_record["runs"].append({
                        "ef_search": ef, "filter": name, "share": share, "exact_max": exact_max,
                        "p50_ms": ours.pct(50), "p95_ms": ours.pct(95), "p99_ms": ours.pct(99),
                        "recall_at_12": recall, "distance_recall_at_12": by_distance[EPSILON],
                        "distance_recall_epsilon": EPSILON, "distance_recall_at_12_strict": by_distance[0.0],
                        "distance_recall_at_12_eps_0.01": by_distance[0.01], "distance_ratio": by_distance["ratio"],
                        "numpy_p50_ms": naive.pct(50) if naive else None,
                        "numpy_p95_ms": naive.pct(95) if naive else None, "load_average": os.getloadavg()[0],
                    })
                    label = name if exact_max is None else f"{name}, exact at <= {exact_max:,}"
                    row = (f"| {m} / {efc} | {seconds:.0f} | {ef} | {label} ({share:.1%}) | {ours.summary()} | "
                           f"{recall:.3f} | {by_distance[EPSILON]:.3f} | {naive.summary() if naive else 'not timed'} |")
                    print(row, flush=True)
                    lines.append(row)
    lines.append("")
    lines.append(f"Load average at the end of the similar_products() runs: {os.getloadavg()[0]:.1f}.")
    record["load_average_after_similar"] = os.getloadavg()[0]

    if args.photos:
        from rest_framework_api_key.models import APIKey  # noqa: PLC0415

        photos = one_megapixel_jpegs(args.dataset, args.photos)
        http = {}
        for runtime in ("tflite", "keras"):  # the default, then the Keras graph it was converted from
            _, key = APIKey.objects.create_key(name=f"benchmark-{runtime}-{int(time.time())}")  # its own rate
            http[runtime] = measure_http(db, photos, key, runtime)
        ours, keras = http["tflite"], http["keras"]
        record["search_by_photo"] = {
            runtime: {"first_cold_ms": h["first_cold"], "first_warm_ms": h["first_warm"],
                      "p50_ms": h["timing"].pct(50), "p95_ms": h["timing"].pct(95), "p99_ms": h["timing"].pct(99),
                      "uploads": args.photos}
            for runtime, h in http.items()
        }
        lines += [
            "",
            "| search by photo through gunicorn (1 MP JPEG upload to JSON), ms | ours: TF Lite runtime (default) "
            "| baseline: the Keras graph (`runtime=\"keras\"`) |",
            "|---|---:|---:|",
            f"| first search of a fresh worker, no warm-up hook | {ours['first_cold']:.0f} | "
            f"{keras['first_cold']:.0f} |",
            f"| first search of a fresh worker, warmed by post_worker_init | {ours['first_warm']:.0f} | "
            f"{keras['first_warm']:.0f} |",
            f"| p50 / p95 / p99 over {args.photos} uploads (warmed worker) | {ours['timing'].summary()} | "
            f"{keras['timing'].summary()} |",
        ]
    text = "\n".join(lines)
    print("\n" + text)
    if args.output:
        args.output.write_text(text + "\n")
    if args.json:
        record["load_average_end"] = os.getloadavg()[0]
        args.json.write_text(json.dumps(record, indent=2) + "\n")


def connection_cursor():
    from django.db import connection  # noqa: PLC0415

    return connection.cursor()


if __name__ == "__main__":
    main()
