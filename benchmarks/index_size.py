"""HNSW index size and build time, ``vector`` against ``halfvec``, as the catalogue grows.

Runs in a scratch database of its own (created, then dropped) on the embedded
PostgreSQL, or on DATABASE_URL's server. The vectors are random unit vectors:
size does not depend on the values, build time a little (real embeddings
cluster, which makes graph building slightly cheaper). Builds run in one backend
(no parallel maintenance workers), whose CPU seconds are reported beside the wall
clock: on a shared machine the CPU time is the figure that holds.

    .venv/bin/python -m benchmarks.index_size --rows 10000 20000 50000 --dims 1280
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

SCRATCH = "vs_scratch_index_size"


def _connect(dbname: str) -> psycopg.Connection:
    if os.environ.get("DATABASE_URL"):
        from psycopg.conninfo import make_conninfo  # noqa: PLC0415

        return psycopg.connect(make_conninfo(os.environ["DATABASE_URL"], dbname=dbname), autocommit=True)
    from config import embedded  # noqa: PLC0415

    entry = embedded.postgres_database()
    return psycopg.connect(host=entry["HOST"], port=entry["PORT"] or None, user=entry["USER"], dbname=dbname,
                           autocommit=True)


def _backend(conn: psycopg.Connection):
    import psutil  # noqa: PLC0415

    return psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def measure(rows: int, dims: int, *, m: int, ef_construction: int, work_mem: str) -> list[dict]:
    """Load ``rows`` random vectors, build both indexes, return one result per storage type."""
    with _connect("postgres") as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        admin.execute(f"CREATE DATABASE {SCRATCH}")
    try:
        with _connect(SCRATCH) as conn:
            conn.execute("CREATE EXTENSION vector")
            register_vector(conn)
            conn.execute(f"CREATE TABLE v (id int, embedding vector({dims}))")
            rng = np.random.default_rng(0)
            with conn.cursor() as cur, cur.copy("COPY v (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "vector"])
                for start in range(0, rows, 5000):
                    block = rng.standard_normal((min(5000, rows - start), dims), dtype=np.float32)
                    block /= np.linalg.norm(block, axis=1, keepdims=True)
                    for i, vector in enumerate(block):
                        copy.write_row([start + i, vector])
            conn.execute(f"CREATE TABLE h AS SELECT id, embedding::halfvec({dims}) AS embedding FROM v")
            conn.execute("VACUUM ANALYZE v")
            conn.execute("VACUUM ANALYZE h")
            conn.execute(f"SET maintenance_work_mem = '{work_mem}'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            backend = _backend(conn)
            results = []
            for table, ops in (("v", "vector_cosine_ops"), ("h", "halfvec_cosine_ops")):
                cpu, started = _cpu(backend), time.perf_counter()
                conn.execute(f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding {ops}) "
                             f"WITH (m = {m}, ef_construction = {ef_construction})")
                seconds, cpu_seconds = time.perf_counter() - started, _cpu(backend) - cpu
                table_bytes = conn.execute(f"SELECT pg_table_size('{table}')").fetchone()[0]
                index_bytes = conn.execute(f"SELECT pg_relation_size('{table}_hnsw')").fetchone()[0]
                results.append({
                    "rows": rows, "type": "vector" if table == "v" else "halfvec", "table_mib": _mib(table_bytes),
                    "index_mib": _mib(index_bytes), "build_s": round(seconds, 1), "cpu_s": round(cpu_seconds, 1),
                    "bytes_per_row": round(index_bytes / rows),
                })
            return results
    finally:
        with _connect("postgres") as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 20_000, 50_000])
    parser.add_argument("--dims", type=int, default=1280)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--maintenance-work-mem", default="1GB")
    args = parser.parse_args()
    print("| rows | storage | table MiB | HNSW index MiB | index bytes/row | build s (wall) | build s (CPU) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        for r in measure(rows, args.dims, m=args.m, ef_construction=args.ef_construction,
                         work_mem=args.maintenance_work_mem):
            print(f"| {r['rows']:,} | {r['type']} | {r['table_mib']} | {r['index_mib']} | {r['bytes_per_row']:,} "
                  f"| {r['build_s']} | {r['cpu_s']} |", flush=True)


if __name__ == "__main__":
    main()
