"""Embeddings of evaluation photos, cached on disk by file hash and encoder.

One ``.npz`` per encoder id and version holds ``sha256 -> vector`` rows, so a
rerun, another layout of the same photos, or a dataset that grew embeds only
the photos it has not seen.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visual_search.encoders.base import Encoder
from visual_search.images import open_image

__all__ = ["Embedded", "default_cache_dir", "embed_paths", "file_digest"]

DECODE_CHUNK = 64  # photos decoded at a time, so a dataset is never held decoded whole


@dataclass
class Embedded:
    """Vectors of a list of photos, their SHA-256s, and what embedding the missing ones cost."""

    vectors: np.ndarray
    digests: list[str]
    embedded: int  # photos that were not in the cache
    seconds: float  # time spent embedding those


def default_cache_dir() -> Path:
    """``VISUAL_SEARCH["EVALUATION_CACHE_DIR"]``, else ``~/.cache/visual-search/embeddings``."""
    from visual_search.conf import vs_settings  # noqa: PLC0415 - needs Django settings

    configured = vs_settings.EVALUATION_CACHE_DIR
    return Path(configured) if configured else Path.home() / ".cache" / "visual-search" / "embeddings"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_file(encoder: Encoder, cache_dir: Path) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{encoder.id}-v{encoder.version}")
    return cache_dir / f"{slug}.npz"


def _read(path: Path, dimensions: int) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path) as data:
        if data["vectors"].shape[1:] != (dimensions,):
            return {}  # another encoder under the same id: never mix vector spaces
        return dict(zip((str(d) for d in data["digests"]), data["vectors"]))


def _write(path: Path, rows: dict[str, np.ndarray], dimensions: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
    vectors = np.stack(list(rows.values())) if rows else np.zeros((0, dimensions), np.float32)
    np.savez(temporary, digests=np.array(list(rows)), vectors=vectors.astype(np.float32))
    temporary.replace(path)  # atomic: a concurrent reader sees the old or the new file, never half of one


def embed_paths(
    encoder: Encoder,
    paths: Sequence[Path],
    cache_dir: Path | None = None,
    *,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> Embedded:
    """Vectors of ``paths`` under ``encoder`` (rows in ``paths`` order), embedding only uncached files.

    Photos are decoded by the app's own gate (``open_image``), as a stored product image is.
    """
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    if hasattr(encoder, "project") and hasattr(encoder, "base"):
        # An adapted encoder is its base plus a head: reuse the base's cached vectors, project them.
        inner = embed_paths(encoder.base, paths, cache_dir, batch_size=batch_size, progress=progress)
        return Embedded(encoder.project(inner.vectors), inner.digests, inner.embedded, inner.seconds)
    store = cache_file(encoder, cache_dir)
    rows = _read(store, encoder.dimensions)
    digests = [file_digest(Path(p)) for p in paths]
    todo = [d for d in dict.fromkeys(digests) if d not in rows]
    path_of = dict(zip(digests, paths))
    start = time.perf_counter()
    for i in range(0, len(todo), DECODE_CHUNK):
        chunk = todo[i : i + DECODE_CHUNK]
        images = [open_image(Path(path_of[d]).read_bytes()) for d in chunk]
        rows.update(zip(chunk, encoder.embed(images, batch_size=batch_size)))
        if progress:
            progress(min(i + DECODE_CHUNK, len(todo)), len(todo))
    seconds = time.perf_counter() - start
    if todo:
        _write(store, rows, encoder.dimensions)
    vectors = np.stack([rows[d] for d in digests]) if digests else np.zeros((0, encoder.dimensions), np.float32)
    return Embedded(vectors.astype(np.float32), digests, len(todo), seconds)
