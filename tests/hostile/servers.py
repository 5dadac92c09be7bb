"""The production front for tests: gunicorn with config/gunicorn.conf.py, and Debian's nginx with deploy/nginx.conf.

nginx comes from apt (``apt-get install nginx``), installed when missing as the
browser tests install Chromium; a test that needs it is skipped, with the
reason, only where apt cannot install it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, stop_process, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_nginx() -> None:
    """nginx and openssl on PATH, installed from apt when missing; skip with the reason where that fails."""
    if shutil.which("nginx") and shutil.which("openssl"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if not shutil.which("apt-get") or (sudo and not shutil.which("sudo")):
        pytest.skip("nginx is missing and apt-get cannot install it here (apt-get install nginx openssl)")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx", "openssl"]):
        result = subprocess.run([*sudo, *command], check=False, capture_output=True, text=True, timeout=900)
        if result.returncode:
            pytest.skip(f"Could not install nginx ({' '.join(command)}): {result.stderr[-500:]}")


@contextmanager
def gunicorn(log_path: Path, env: dict[str, str], *, ready_path: str = "/visual-search/") -> Iterator[int]:
    """``gunicorn -c config/gunicorn.conf.py config.wsgi:application`` on a free port, until the block ends."""
    import http.client  # noqa: PLC0415

    port = free_port()
    env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def ready():
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", ready_path)
            return connection.getresponse().status == 200
        except OSError:
            return False

    try:
        wait_for(ready, timeout=240, interval=0.5, message="gunicorn to answer (its workers warm the encoder)")
        yield port
    finally:
        stop_process(process)


@contextmanager
def nginx(upstream_port: int, prefix: Path) -> Iterator[int]:
    """deploy/nginx.conf, as docker-compose runs it (TLS on a self-signed pair), in front of ``upstream_port``."""
    ensure_nginx()
    prefix.chmod(0o755)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", prefix / "privkey.pem", "-out", prefix / "fullchain.pem"],
        check=True, capture_output=True,
    )
    http_port, https_port = free_port(), free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [
        ("server web:8000;", f"server 127.0.0.1:{upstream_port};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("/etc/nginx/certs", str(prefix)),
        ("/data/media/", f"{prefix}/media/"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (prefix / "site.conf").write_text(site)
    (prefix / "nginx.conf").write_text(
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;\n"
        f"  include {prefix}/site.conf; }}\n"
    )
    process = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log"),
         "-g", "daemon off;"]
    )

    def up():
        if process.poll() is not None:
            pytest.fail(f"nginx exited with {process.returncode}:\n{(prefix / 'error.log').read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_for(up, timeout=20, message="nginx to listen")
        yield https_port
    finally:
        process.terminate()
        process.wait(10)
