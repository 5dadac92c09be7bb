"""Against a real gunicorn on 127.0.0.1 (config/gunicorn.conf.py, one threaded worker, the real encoder).

Ten concurrent worst-case uploads keep the worker under 1 GiB and it returns to
its baseline; two slow uploads delay nobody; a body over the cap is refused
before it is sent; a body that never finishes is cut off at its deadline. With
nginx installed, deploy/nginx.conf in front: a slow upload is buffered whole
before it reaches a worker.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from tests.conftest import ROOT, photo_bytes, stop_process, wait_for
from tests.hostile.make_corpus import worst_case_png

# Marked so that pytest-django creates the test database, which the gunicorn worker connects to.
pytestmark = pytest.mark.django_db

MiB = 1 << 20
BODY_TIMEOUT = 3  # seconds, plus Content-Length at 64 KiB/s (the config's default rate)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(data: bytes, filename: str = "photo.png") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Server:
    def __init__(self, port: int, process: subprocess.Popen) -> None:
        self.port, self.process = port, process

    @property
    def worker(self) -> psutil.Process:
        (worker,) = psutil.Process(self.process.pid).children()
        return worker

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float = 60,
    ) -> tuple[int, float]:
        """(status, seconds) for one request on a fresh connection."""
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(
                method, path, body=body, headers={"Content-Type": content_type} if content_type else {}
            )
            response = connection.getresponse()
            response.read()
            return response.status, time.monotonic() - started
        finally:
            connection.close()

    def search(self, data: bytes) -> tuple[int, float]:
        body, content_type = multipart(data)
        return self.request("POST", "/api/v1/search/image/", body, content_type)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection  # noqa: PLC0415

    port = _free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.hostile.server_settings",
        "VISUAL_SEARCH_TEST_WORKER": "1",
        "VISUAL_SEARCH_TEST_DB_NAME": connection.settings_dict["NAME"],
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_BODY_TIMEOUT": str(BODY_TIMEOUT),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(port, process)

    def ready():
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            return server.request("GET", "/visual-search/", timeout=2)[0] == 200
        except OSError:
            return False

    wait_for(
        ready, timeout=180, interval=0.5, message="gunicorn to answer (the worker warms the encoder first)"
    )
    yield server
    stop_process(process)


def test_ten_concurrent_worst_case_uploads_stay_under_one_gib(server):
    worst = worst_case_png()  # 6300 x 6300 x 16-bit RGB: 0.4 MB on the wire, 159 MB decoded
    assert server.search(photo_bytes("coffee"))[0] == 200  # every code path touched once
    time.sleep(0.5)
    worker = server.worker
    baseline = worker.memory_info().rss
    peak, stop = [baseline], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], worker.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: server.search(worst), range(10)))
    elapsed = time.monotonic() - started
    time.sleep(1.0)
    after = worker.memory_info().rss
    stop.set()
    sampler.join()
    print(
        f"\n10 concurrent worst-case uploads in {elapsed:.1f}s: worker RSS baseline "
        f"{baseline / MiB:.0f} MiB, peak {peak[0] / MiB:.0f} MiB, 1 s after {after / MiB:.0f} MiB"
    )
    assert [status for status, _ in results] == [200] * 10
    assert peak[0] < 1024 * MiB
    assert after < baseline + 64 * MiB


def _slow_upload(port: int, seconds: float, declared: int, stop: threading.Event) -> bytes:
    """Send headers, then trickle a multipart body at 1 kB per 0.25 s; return what the server said."""
    body, content_type = multipart(photo_bytes("chelsea") + bytes(declared))
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        f"POST /api/v1/search/image/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    deadline = time.monotonic() + seconds
    sent = 0
    try:
        while time.monotonic() < deadline and not stop.is_set() and sent < len(body) - 1024:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or hung up) before the body was done
            sock.sendall(body[sent : sent + 1024])
            sent += 1024
            time.sleep(0.25)
        sock.settimeout(15)
        return sock.recv(200)
    except OSError:
        return b""
    finally:
        sock.close()


def test_two_slow_uploads_delay_nobody(server):
    small = photo_bytes("coffee", size=400)
    server.search(small)
    before = [server.search(small)[1] for _ in range(4)] + [server.request("GET", "/visual-search/")[1]]
    stop = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(_slow_upload, server.port, BODY_TIMEOUT, 400_000, stop) for _ in range(2)]
        time.sleep(0.5)  # both are mid-body now
        during = []
        while not any(future.done() for future in slow) and len(during) < 40:
            during.append(server.search(small))
            during.append(server.request("GET", "/visual-search/"))
        stop.set()
    print(
        f"\nwhile two uploads trickled: {len(during)} requests, "
        f"slowest {max(t for _, t in during) * 1000:.0f} ms "
        f"(before: median {statistics.median(before) * 1000:.0f} ms)"
    )
    assert len(during) >= 4
    assert all(status == 200 for status, _ in during)
    assert max(t for _, t in during) < statistics.median(before) + 1.0


def test_a_body_that_never_finishes_is_cut_off_at_its_deadline(server):
    stop = threading.Event()
    started = time.monotonic()
    answer = _slow_upload(server.port, 60, 10_000, stop)  # about 3.3 s allowed for this size
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"body_timeout" in answer or len(answer) == 200
    assert elapsed < BODY_TIMEOUT + 3


def test_a_body_over_the_cap_is_refused_before_it_is_sent(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(
            b"POST /api/v1/search/image/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 200000000\r\n\r\n"
        )
        started = time.monotonic()
        answer = sock.recv(65536)
        assert time.monotonic() - started < 2
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = int(next(line.split(b":")[1] for line in lines if line.startswith(b"content-length")))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        answer = head + b"\r\n\r\n" + body
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'"code":"too_large"' in answer.replace(b" ", b"")


@pytest.fixture(scope="module")
def nginx(server, tmp_path_factory):
    """deploy/nginx.conf, as docker-compose runs it, in front of the test gunicorn (skipped without nginx)."""
    import shutil  # noqa: PLC0415

    if not shutil.which("nginx") or not shutil.which("openssl"):
        from tests.hostile.servers import ensure_nginx  # noqa: PLC0415

        ensure_nginx()  # from apt, or skipped with the reason
    prefix = tmp_path_factory.mktemp("nginx")
    prefix.chmod(0o755)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            prefix / "privkey.pem",
            "-out",
            prefix / "fullchain.pem",
        ],
        check=True,
        capture_output=True,
    )
    http_port, https_port = _free_port(), _free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [
        ("server web:8000;", f"server 127.0.0.1:{server.port};"),
        ("listen 80;", f"listen {http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("/etc/nginx/certs", str(prefix)),
        ("/data/media/", f"{prefix}/media/"),
    ]:
        assert old in site
        site = site.replace(old, new)
    (prefix / "site.conf").write_text(site.replace(f"listen {http_port};", f"listen 127.0.0.1:{http_port};"))
    (prefix / "nginx.conf").write_text(
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{ access_log off; client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;\n"
        f"  include {prefix}/site.conf; }}\n"
    )
    process = subprocess.Popen(
        [
            "nginx",
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(prefix / "error.log"),
            "-g",
            "daemon off;",
        ]
    )

    def up():
        if process.poll() is not None:
            pytest.fail(
                f"nginx exited with {process.returncode}:\n{(prefix / 'error.log').read_text()[-2000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(up, timeout=20, message="nginx to listen")
    yield https_port
    process.terminate()
    process.wait(10)


def test_behind_nginx_a_slow_upload_never_reaches_a_worker_half_sent(server, nginx):
    """An upload trickled past gunicorn's own body deadline still succeeds: nginx held it, not a thread."""
    import ssl  # noqa: PLC0415

    body, content_type = multipart(photo_bytes("coffee", size=400) + bytes(20_000))
    context = ssl._create_unverified_context()  # noqa: SLF001 - the test's own self-signed certificate
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", nginx)), server_hostname="localhost")
    sock.sendall(
        f"POST /api/v1/search/image/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
        f"X-Forwarded-For: 6.6.6.6\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    step = max(1, len(body) // 30)
    started = time.monotonic()
    during = []
    for offset in range(0, len(body), step):  # 30 pieces over ~7.5 s, beyond gunicorn's ~3.5 s deadline
        sock.sendall(body[offset : offset + step])
        status, seconds = server.request("GET", "/visual-search/")  # the worker stays free meanwhile
        during.append(seconds if status == 200 else float("inf"))
        time.sleep(max(0.0, 0.25 - seconds))
    trickled = time.monotonic() - started
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    print(
        f"\nthrough nginx: body trickled for {trickled:.1f}s, answer {answer[:12]!r}; "
        f"direct requests meanwhile: slowest {max(during) * 1000:.0f} ms"
    )
    assert trickled > BODY_TIMEOUT + len(body) / (64 * 1024) + 1
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert max(during) < 1.0
