"""Each system check id, provoked by really breaking its condition."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from tests.conftest import ROOT
from visual_search.indexing.vector_index import drop_hnsw_index, ensure_hnsw_index
from visual_search.models import ProductImageEmbedding


def run_check() -> str:
    try:
        call_command("check")
    except SystemCheckError as exc:
        return str(exc)
    return ""


def manage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **(env or {})},
    )


@pytest.mark.django_db
def test_clean_project_passes():
    assert run_check() == ""


@pytest.mark.django_db
def test_e002_product_model_unresolvable():
    with override_settings(VISUAL_SEARCH_PRODUCT_MODEL="shop.NoSuchModel"):
        assert "visual_search.E002" in run_check()


@pytest.mark.django_db
def test_e003_stored_vectors_of_another_dimension(make_product):
    product = make_product(None)
    ProductImageEmbedding.objects.create(
        product=product, image_key="main", encoder="efficientnet-lite0", encoder_version="1",
        status="ready", embedding=[1.0] + [0.0] * 1279,
    )
    assert run_check() == ""
    with override_settings(VISUAL_SEARCH={"ENCODER": {"BACKEND": "tests.testapp.encoders.MislabelledEncoder"}}):
        output = run_check()
    assert "visual_search.E003" in output and "1280-d" in output


@pytest.mark.django_db
def test_e004_unimportable_encoder():
    with override_settings(VISUAL_SEARCH={"ENCODER": {"BACKEND": "no.such.Encoder"}}):
        assert "visual_search.E004" in run_check()


@pytest.mark.django_db
def test_w001_missing_index(capsys):
    drop_hnsw_index("efficientnet-lite0", 1280)
    try:
        call_command("check")
        assert "visual_search.W001" in capsys.readouterr().err
    finally:
        ensure_hnsw_index("efficientnet-lite0", 1280)


def _system_postgres_without_pgvector() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _system_postgres_without_pgvector(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_e001_pgvector_missing_via_manage_py_check():
    """The machine's PostgreSQL 15 has no pgvector: `manage.py check` against it must say so."""
    result = manage("check", env={"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres"})
    if "visual_search.E001" not in result.stderr and "could not inspect" in result.stderr:
        pytest.skip(f"cannot log in to the system PostgreSQL: {result.stderr[-300:]}")
    assert result.returncode != 0
    assert "visual_search.E001" in result.stderr


def test_check_and_imports_do_not_load_tensorflow():
    code = (
        "import sys, django; django.setup();"
        "from django.core.management import call_command; call_command('check');"
        "import visual_search.search.service, visual_search.indexing.tasks, visual_search.api.views, visual_search.web.admin;"
        "from visual_search.encoders import get_encoder; e = get_encoder(); print(e.id, e.dimensions);"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; print('clean')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # The demo project's encoder: Lite0 plus the committed head (shop/encoder/), built without TensorFlow.
    assert re.search(r"efficientnet-lite0-clothing-[0-9a-f]{8} 1536", result.stdout) and "clean" in result.stdout


@pytest.fixture
def celery_state(monkeypatch):
    """Celery's own record of the current app, restored after the test."""
    from celery import _state  # noqa: PLC0415

    monkeypatch.setattr(_state._tls, "current_app", _state._tls.current_app)
    monkeypatch.setattr(_state, "default_app", _state.default_app)
    return _state


@pytest.mark.django_db
def test_w003_tasks_would_go_through_celerys_default_app(celery_state):
    # What a host without celery.py and the __init__.py import has: no app of its own loaded.
    celery_state._tls.current_app = None
    celery_state.default_app = None

    output = run_check_warnings()

    assert "visual_search.W003" in output and "Celery's default app" in output
    assert "yourproject/__init__.py" in output


@pytest.mark.django_db
def test_w004_unconfigured_broker(celery_state, monkeypatch):
    from config.celery import app  # noqa: PLC0415

    monkeypatch.setattr(app.conf, "broker_url", None)
    monkeypatch.delenv("CELERY_BROKER_URL")  # Celery reads it before its own setting

    assert "visual_search.W004" in run_check_warnings()


@pytest.mark.django_db
def test_w005_redis_broker_without_the_redis_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # what `import redis` meets when it is not installed

    output = run_check_warnings()

    assert "visual_search.W005" in output and "django-visual-search[redis]" in output


@pytest.mark.django_db
def test_the_demo_projects_celery_app_passes(capsys):
    call_command("check")
    assert "visual_search.W00" not in capsys.readouterr().err


def run_check_warnings() -> str:
    import io  # noqa: PLC0415

    err = io.StringIO()
    call_command("check", stderr=err, stdout=io.StringIO())
    return err.getvalue()


@pytest.mark.django_db
def test_w007_an_app_the_api_needs_is_not_installed():
    from django.core.checks import run_checks  # noqa: PLC0415
    from django.test import modify_settings  # noqa: PLC0415

    assert not [m for m in run_checks() if m.id == "visual_search.W007"]
    with modify_settings(INSTALLED_APPS={"remove": ["rest_framework_api_key", "drf_spectacular_sidecar"]}):
        [warning] = [m for m in run_checks() if m.id == "visual_search.W007"]
    assert "rest_framework_api_key, drf_spectacular_sidecar" in warning.msg
