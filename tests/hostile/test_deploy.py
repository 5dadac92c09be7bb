"""Production settings: ``check --deploy`` is clean with the documented variables; headers and CSP sent."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db  # the subprocesses use the test database

HEADERS_SCRIPT = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/visual-search/", secure=True, headers={"host": "shop.example.com"})
print(json.dumps({"status": response.status_code, **{k.lower(): v for k, v in response.items()}}))
"""


def production_env() -> dict:
    """The variables config/production.py documents, pointed at this test run's database and Redis."""
    from django.db import connection  # noqa: PLC0415

    db = connection.settings_dict
    # Nothing a test run sets for itself (Playwright's DJANGO_ALLOW_ASYNC_UNSAFE) reaches a deployment check.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VISUAL_SEARCH_TEST") and key != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        "DATABASE_URL": f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}"
        + (f"&port={db['PORT']}" if db.get("PORT") else ""),
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        "REDIS_CACHE_URL": "redis://127.0.0.1:6379/14",
    }


def run_in_production(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python *args`` in the repository under the production settings (``production_env()`` unless ``env``)."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env or production_env(), capture_output=True, text=True, timeout=300
    )


def test_check_deploy_prints_no_warnings():
    # As a deployment does: migrate under the production settings first (it builds their encoder's index).
    migrate = run_in_production("manage.py", "migrate", "--no-input")
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    result = run_in_production("manage.py", "check", "--deploy")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "System check identified no issues (0 silenced).", (
        result.stdout + result.stderr
    )


def test_production_refuses_to_start_without_a_real_secret_key():
    result = run_in_production("manage.py", "check", env={**production_env(), "DJANGO_SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be at least 50" in result.stderr


def test_production_sends_security_headers_and_a_strict_csp():
    result = run_in_production("-c", HEADERS_SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    headers = json.loads(result.stdout.strip().splitlines()[-1])
    assert headers["status"] == 200
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


def test_plain_http_is_redirected_to_https_except_the_health_check():
    script = HEADERS_SCRIPT.replace("secure=True", "secure=False")
    result = run_in_production("-c", script)
    headers = json.loads(result.stdout.strip().splitlines()[-1])
    assert (headers["status"], headers["location"]) == (301, "https://shop.example.com/visual-search/")
    # docker-compose's healthcheck calls gunicorn over plain HTTP: it must get an answer, not a redirect.
    health = script.replace('"/visual-search/"', '"/visual-search/health/"')
    result = run_in_production("-c", health)
    assert json.loads(result.stdout.strip().splitlines()[-1])["status"] in (200, 503), result.stderr[-2000:]


def test_a_project_without_the_upload_guard_is_warned(settings):
    from django.core.checks import run_checks  # noqa: PLC0415

    assert not [m for m in run_checks() if m.id == "visual_search.W006"]
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "UploadGuardMiddleware" not in m]
    assert [m.id for m in run_checks() if m.id == "visual_search.W006"] == ["visual_search.W006"]


def test_production_trusts_no_proxy_unless_told():
    script = "import django; django.setup(); from visual_search.conf import vs_settings; print(vs_settings.TRUSTED_PROXIES)"
    assert run_in_production("-c", script).stdout.strip() == "0"
    told = run_in_production("-c", script, env={**production_env(), "VISUAL_SEARCH_TRUSTED_PROXIES": "1"})
    assert told.stdout.strip() == "1"


def test_check_deploy_warns_when_a_proxy_count_is_set_but_requests_come_without_its_header(settings):
    from django.core.cache import cache  # noqa: PLC0415
    from django.core.checks import run_checks  # noqa: PLC0415
    from django.test import RequestFactory  # noqa: PLC0415

    from visual_search.search.throttling import MISSING_PROXY_HEADER_KEY, client_address  # noqa: PLC0415

    def warnings() -> list:
        return [m for m in run_checks(include_deployment_checks=True) if m.id == "visual_search.W008"]

    cache.delete(MISSING_PROXY_HEADER_KEY)
    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "TRUSTED_PROXIES": 1}
    through_proxy = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_address(through_proxy) == "203.0.113.7"
    assert warnings() == []  # the proxy's header arrives: nothing to say

    direct = RequestFactory().get("/", REMOTE_ADDR="198.51.100.9")  # a client that reached Django directly
    assert client_address(direct) == "198.51.100.9"
    [warning] = warnings()
    assert "TRUSTED_PROXIES'] is 1" in warning.msg and "198.51.100.9" in warning.msg

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "TRUSTED_PROXIES": 0}
    assert warnings() == []  # trusting no proxy, nothing can be spoofed
    cache.delete(MISSING_PROXY_HEADER_KEY)
