"""A worker child's malloc settings: few arenas, free pages given back after each batch."""

from __future__ import annotations

import ctypes.util
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from visual_search.indexing import tasks

ROOT = Path(__file__).resolve().parents[2]
glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc only")

THREADS = """
import os, sys, threading, ctypes, django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from visual_search.indexing.tasks import limit_malloc_arenas, release_free_memory
print(limit_malloc_arenas() if sys.argv[1] == "limited" else "default", flush=True)
barrier = threading.Barrier(8)
def allocate():
    barrier.wait()  # all at once, so each would want an arena of its own
    blocks = [bytearray(4096) for _ in range(20000)]
    barrier.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
release_free_memory()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" section per arena, on stderr
"""


def arenas(mode: str, **env: str) -> tuple[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", THREADS, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), result.stderr.count("Arena ")


@glibc_only
def test_a_worker_child_allocates_from_at_most_two_arenas():
    assert arenas("limited") == ("True", 2)
    assert arenas("default")[1] > 2  # without the cap, the threads spread over more


@glibc_only
def test_an_operator_setting_for_the_arenas_is_left_alone(monkeypatch):
    assert arenas("limited", MALLOC_ARENA_MAX="3") == ("False", 3)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert tasks.limit_malloc_arenas() is False


def test_the_worker_child_caps_its_arenas_before_loading_the_model(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks, "limit_malloc_arenas", lambda: calls.append("arenas"))
    monkeypatch.setattr(tasks, "warm_up", lambda: calls.append("model"))
    tasks._warm_up_child()
    assert calls == ["arenas", "model"]


def test_releasing_free_memory_is_safe_anywhere():
    tasks.release_free_memory()
    assert ctypes.util.find_library("c") is None or tasks._LIBC is not None
