"""The visual_search_reembed, visual_search_status and visual_search_index commands."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import photo_bytes
from visual_search.encoders import get_encoder
from visual_search.indexing.jobs import pause_job, start_job
from visual_search.indexing.sync import sync_products
from visual_search.indexing.vector_index import drop_hnsw_index, index_exists, index_name
from visual_search.models import BulkJob, BulkJobState, EmbeddingStatus, ProductImageEmbedding, SyncRequest


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def statuses() -> list[str]:
    return sorted(ProductImageEmbedding.objects.values_list("status", flat=True))




@pytest.mark.django_db
def test_starts_a_job_that_workers_finish(quiet_saves, make_product):
    products = [make_product(name) for name in ("chelsea", "coffee", "rocket")]

    out, _ = run("visual_search_reembed")

    job = BulkJob.objects.get()
    assert f"Started job #{job.pk}: 3 products to re-embed (mode missing" in out
    # Celery runs the drain eagerly in unit tests, so the job is done once the command returns.
    assert job.state == BulkJobState.FINISHED and job.done == 3
    assert statuses() == ["ready"] * 3
    assert {r.product_id for r in ProductImageEmbedding.objects.all()} == {p.pk for p in products}
    assert "Nothing to do: no searchable product needs this re-embed." in run("visual_search_reembed")[0]


@pytest.mark.django_db
def test_sync_does_the_jobs_work_here_with_a_progress_bar(quiet_saves, not_eager, make_product):
    make_product("chelsea", gallery=["coffee"])
    make_product("rocket")
    make_product(photo_bytes("astronaut")[:900])
    make_product(None)  # no images: done once synced

    out, err = run("visual_search_reembed", "--sync")

    assert "Started job #" in out and "4 products to re-embed" in out
    assert "finished: 4 of 4 products done (3 done, 1 with failed images)" in out
    assert "Embedding" in err and "4/4" in err  # the tqdm bar
    assert statuses() == ["failed", "ready", "ready", "ready"]
    assert not SyncRequest.objects.exists()
    assert "Nothing to do" in run("visual_search_reembed", "--sync")[0]


@pytest.mark.django_db
def test_force_re_embeds_unchanged_images(quiet_saves, not_eager, make_product):
    product = make_product("chelsea")
    run("visual_search_reembed", "--sync")
    before = ProductImageEmbedding.objects.get(product=product).embedded_at

    out, _ = run("visual_search_reembed", "--force", "--sync")

    assert "mode force" in out and "1 of 1 products done" in out
    assert ProductImageEmbedding.objects.get(product=product).embedded_at > before


@pytest.mark.django_db
def test_a_second_run_joins_the_running_job(quiet_saves, not_eager, make_product):
    make_product("chelsea")
    run("visual_search_reembed", "--mode", "all")

    out, _ = run("visual_search_reembed", "--mode", "all")

    job = BulkJob.objects.get()
    assert f"Job #{job.pk} (all, efficientnet-lite0) is already queued: joining it, nothing new started." in out
    assert SyncRequest.objects.filter(job=job).count() == 1


@pytest.mark.django_db
def test_failed_mode_retries_only_failed_products(quiet_saves, make_product):
    good = make_product("chelsea")
    bad = make_product(photo_bytes("coffee")[:900])
    run("visual_search_reembed")
    good_row = ProductImageEmbedding.objects.get(product=good)

    out, _ = run("visual_search_reembed", "--mode", "failed")

    assert "1 products to re-embed (mode failed" in out
    assert ProductImageEmbedding.objects.get(product=bad).status == EmbeddingStatus.FAILED
    assert ProductImageEmbedding.objects.get(product=good).updated_at == good_row.updated_at


@pytest.fixture
def fast_polls(monkeypatch):
    from visual_search.management.commands import visual_search_reembed  # noqa: PLC0415

    monkeypatch.setattr(visual_search_reembed.Command, "poll_interval", 0.05)
    monkeypatch.setattr(visual_search_reembed.Command, "stall_seconds", 0.2)


@pytest.mark.django_db
def test_wait_times_out_when_no_worker_drains(quiet_saves, not_eager, make_product, fast_polls):
    make_product("chelsea")

    with pytest.raises(CommandError, match=r"Timed out after 0 s: job #\d+ has 1 products left \(queued\)"):
        run("visual_search_reembed", "--wait", "--timeout", "0.5")
    assert BulkJob.objects.get().state == BulkJobState.QUEUED  # the job goes on without the command


@pytest.mark.django_db
def test_unknown_mode_and_conflicting_options_are_refused(db):
    with pytest.raises(CommandError):
        run("visual_search_reembed", "--mode", "everything")
    with pytest.raises(CommandError):
        run("visual_search_reembed", "--sync", "--wait")


@pytest.mark.django_db
def test_status_prints_a_table(quiet_saves, not_eager, make_product):
    make_product("chelsea")
    make_product(None)
    make_product("coffee")
    run("visual_search_reembed", "--sync")

    lines = status_lines()
    assert lines["Searchable products"] == "3"
    assert lines["Ready"] == "2 (100.0%)"  # two ready, and the one without images is done
    assert lines["Without images (done)"] == "1"
    assert lines["Not embedded"] == "0"
    assert lines["Work owed"] == "0 products"
    assert lines["Encoder"].startswith(get_encoder().id)
    assert lines["Searches answer from"] == get_encoder().id

    job, _ = start_job("force")
    pause_job(job)
    lines = status_lines()
    assert lines["Work owed"] == "3 products"
    assert lines[f"Job #{job.pk}"] == "force paused: 0/3 done, 0 failed, 3 left, time left \u2014"


def status_lines() -> dict[str, str]:
    out, _ = run("visual_search_status")
    return {k: v.strip() for k, v in (line.split("  ", 1) for line in out.splitlines() if "  " in line)}


@pytest.mark.django_db
def test_status_json_includes_the_index(quiet_saves, make_product):
    make_product("chelsea")

    data = json.loads(run("visual_search_status", "--json")[0])

    assert (data["total"], data["ready"], data["not_embedded"], data["percent_ready"]) == (1, 0, 1, 0.0)
    assert (data["owed"], data["jobs"]) == (0, [])
    assert data["hnsw_index_exists"] is True  # migrate created it
    assert data["dimensions"] == get_encoder().dimensions


@pytest.mark.django_db
def test_index_command_creates_then_reports_existing(db):
    encoder = get_encoder()
    drop_hnsw_index(encoder.id, encoder.dimensions)
    assert not index_exists(encoder.id, encoder.dimensions)

    assert "Created HNSW index" in run("visual_search_index")[0]
    assert index_exists(encoder.id, encoder.dimensions)
    assert "already exists" in run("visual_search_index")[0]


@pytest.mark.django_db
def test_index_command_rebuilds_with_new_parameters(settings):
    from django.db import connection

    encoder = get_encoder()
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "HNSW_M": 8}
    assert "Created HNSW index" in run("visual_search_index", "--rebuild")[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                       [index_name(encoder.id, encoder.dimensions)])
        assert "m='8'" in cursor.fetchone()[0]


@pytest.mark.django_db
def test_index_command_drops_the_index_only_while_no_search_answers_from_it(make_product):
    encoder = get_encoder()
    out, _ = run("visual_search_index", "--drop")  # a first load: nothing embedded yet
    assert "Dropped HNSW index" in out
    assert not index_exists(encoder.id, encoder.dimensions)
    assert "has no HNSW index" in run("visual_search_index", "--drop")[0]
    run("visual_search_index")
    sync_products([make_product("chelsea").pk])  # embedded: searches now answer from these vectors
    with pytest.raises(CommandError, match="Searches answer from"):
        run("visual_search_index", "--drop")
    assert index_exists(encoder.id, encoder.dimensions)


@pytest.mark.django_db(transaction=True)
def test_index_command_concurrently(db):
    encoder = get_encoder()
    drop_hnsw_index(encoder.id, encoder.dimensions)
    try:
        out, _ = run("visual_search_index", "--concurrently")
        assert "Created HNSW index" in out
        assert index_exists(encoder.id, encoder.dimensions)
    finally:
        if not index_exists(encoder.id, encoder.dimensions):  # leave the test database as migrate made it
            call_command("visual_search_index", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_wait_follows_a_real_worker_until_every_product_is_done(worker, make_product, settings):
    # Demo-shop products saved without auto-embedding, so only the command's job embeds them;
    # one has no images at all and must count as done, not keep --wait waiting.
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False}
    products = [make_product("chelsea", gallery=["coffee"]), make_product("rocket"), make_product(None)]
    assert not ProductImageEmbedding.objects.exists()

    out, err = run("visual_search_reembed", "--wait", "--timeout", "240")

    job = BulkJob.objects.get()
    assert f"Started job #{job.pk}: 3 products to re-embed" in out
    assert f"Job #{job.pk} finished: 3 of 3 products done (3 done, 0 with failed images)" in out
    assert "Waiting for workers" in err and "3/3" in err
    assert (job.state, job.total, job.done, job.failed) == ("finished", 3, 3, 0)
    assert not SyncRequest.objects.exists()
    rows = ProductImageEmbedding.objects.filter(product__in=products)
    assert sorted(rows.values_list("status", flat=True)) == ["ready"] * 3
    status = json.loads(run("visual_search_status", "--json")[0])
    assert status["owed"] == 0 and status["jobs"] == [] and status["search_encoder"] == "efficientnet-lite0"
