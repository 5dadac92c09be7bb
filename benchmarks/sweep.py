"""What the sweep and the lease keeper cost at a million owed products (issue 19).

Fills its own database (``visual_search_bench_sweep``) with ``--owed`` products
(default 1,000,000), every one owed by one running bulk job, then times, each
``--repeat`` times, the queries that run every few seconds whatever is owed:

* ``due_count`` while a worker drains (64 live leases): the sweep's usual case;
* ``due_count`` after that worker died (its 64 leases expired);
* ``due_count`` with nobody working and nothing leased (a lost task);
* ``renew_leases`` (the lease keeper, every third of ``SYNC_LEASE_SECONDS``);
* ``claim(32)`` (one batch, as a drain claims it).

and prints each query's plan, so it can be seen which index answers.
``.venv/bin/python benchmarks/sweep.py [--owed N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATABASE = "visual_search_bench_sweep"


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django  # noqa: PLC0415
    import psycopg  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415
    from django.core.management import call_command  # noqa: PLC0415

    db = settings.DATABASES["default"]
    params = {"dbname": "postgres", "user": db.get("USER"), "host": db.get("HOST"), "port": db.get("PORT"),
              "password": db.get("PASSWORD")}
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    db["NAME"] = DATABASE
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    django.setup()
    call_command("migrate", verbosity=0)


def fill(owed: int) -> int:
    """``owed`` products, each owed by one running job (SQL only: a million rows in seconds). Returns the job."""
    from django.db import connection  # noqa: PLC0415

    from shop.models import Category, Product  # noqa: PLC0415
    from visual_search.models import BulkJob, BulkJobState, SyncRequest  # noqa: PLC0415

    if Product.objects.count() != owed:
        SyncRequest.objects.all().delete()
        BulkJob.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Product._meta.db_table} CASCADE")
        category, _ = Category.objects.get_or_create(name="bench", slug="bench")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Product._meta.db_table} (name, slug, description, price, in_stock, category_id, "
                "image, created_at, updated_at) SELECT 'p' || i, 'p-' || i, '', 1, true, %s, '', now(), now() "
                "FROM generate_series(1, %s) i",
                [category.pk, owed],
            )
    job = BulkJob.objects.create(mode="force", encoder="bench", state=BulkJobState.RUNNING, total=owed)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SyncRequest._meta.db_table}")
        cursor.execute(
            f"INSERT INTO {SyncRequest._meta.db_table} (product_id, requested_at, force, job_id, attempts, "
            f"last_error) SELECT id, clock_timestamp(), true, %s, 0, '' FROM {Product._meta.db_table}",
            [job.pk],
        )
        cursor.execute(f"VACUUM ANALYZE {SyncRequest._meta.db_table}")
    return job.pk


def timed(label: str, function, repeat: int) -> float:
    from django.db import connection  # noqa: PLC0415

    function()  # warm: the first call pays for the plan and cold pages
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples)
    print(f"| {label} | {median:.2f} | {max(samples):.2f} |")
    connection.close()
    return median


def explain(sql_label: str, sql: str, params: list) -> None:
    from django.db import connection  # noqa: PLC0415

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n{sql_label}:\n    " + "\n    ".join(plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owed", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    setup_django()
    from django.db import connection, transaction  # noqa: PLC0415

    from visual_search.indexing import outbox  # noqa: PLC0415
    from visual_search.models import SyncRequest  # noqa: PLC0415

    started = time.perf_counter()
    fill(args.owed)
    print(f"{args.owed:,} products owed by one running job, written in {time.perf_counter() - started:.0f} s")
    table = SyncRequest._meta.db_table

    def lease(seconds: float, n: int = 64) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET claimed_until = NULL, claimed_by = '' WHERE claimed_until IS NOT NULL")
            cursor.execute(
                f"UPDATE {table} SET claimed_until = clock_timestamp() + %s * interval '1 second', "
                f"claimed_by = %s, attempts = 1 WHERE product_id IN (SELECT product_id FROM {table} "
                "ORDER BY product_id LIMIT %s)",
                [seconds, outbox.holder(), n],
            )

    print("\n| query (every few seconds) | median ms | max ms |\n|---|---|---|")
    lease(60)
    timed("`due_count`, a worker draining (64 live leases)", lambda: outbox.due_count(limit=256), args.repeat)
    timed("`renew_leases` (64 leases)", outbox.renew_leases, args.repeat)
    lease(-60)
    timed("`due_count`, that worker dead (64 expired leases)", lambda: outbox.due_count(limit=256), args.repeat)
    lease(0, n=0)
    timed("`due_count`, nobody working, nothing leased", lambda: outbox.due_count(limit=256), args.repeat)

    def claim_and_give_back() -> None:
        claims = outbox.claim(32)
        outbox.release(claims, "bench", retry_in=0)
        with connection.cursor() as cursor:  # as it was: unclaimed, attempts untouched for the next round
            cursor.execute(f"UPDATE {table} SET attempts = 0, not_before = NULL, last_error = '' "
                           "WHERE product_id = ANY(%s)", [[c.product_pk for c in claims]])

    timed("`claim(32)` + give back (one drain batch)", claim_and_give_back, max(3, args.repeat // 4))

    lease(-60)
    with transaction.atomic():
        explain("claim, unclaimed rows (the drain's next batch)",
                outbox._claim_sql(outbox._tables(), expired=False, only_pks=False),  # noqa: SLF001
                [["queued", "running"], 32, 15, "bench"])
        explain("expired leases (due_count, first query)",
                f"SELECT count(*) FROM (SELECT 1 FROM {table} r WHERE r.claimed_until < statement_timestamp() "
                "LIMIT 256) d", [])
        explain("renew_leases", f"SELECT 1 FROM {table} WHERE claimed_by = %s AND claimed_until IS NOT NULL",
                [outbox.holder()])
        transaction.set_rollback(True)
    lease(0, n=0)


if __name__ == "__main__":
    main()
