"""The embedding head file: arrays plus JSON metadata in one ``.npz``, read without unpickling.

``visual_search_train`` writes it (``quality/training.py``); ``AdaptedEncoder``
reads it and applies the head with numpy.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from visual_search.encoders.base import l2_normalize

__all__ = ["apply_head", "head_digest", "load_head", "save_head", "store_similarity_floor"]


def apply_head(weights: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Project unit-length ``features`` through the head; rows are not normalised here."""
    x = l2_normalize(features)
    if "w1" in weights:
        x = np.maximum(x @ weights["w1"] + weights["b1"], 0.0)
    z = x @ weights["w"]
    mix = float(weights.get("mix", 0.0))
    if not mix:
        return z
    # The frozen features (their first `keep` columns, e.g. a regional encoder's global part) beside the
    # projection: they keep neighbourhoods among labels the head never saw.
    keep = int(weights.get("keep", features.shape[1]))
    return np.hstack([mix * l2_normalize(features[:, :keep]), l2_normalize(z)])


def save_head(
    path: str | Path, weights: dict[str, np.ndarray], metadata: dict[str, Any], *, float16: bool = False
) -> Path:
    """Write the head's arrays and its metadata (base encoder, name, version, how it was fitted) to ``path``.

    ``float16`` stores the weight matrices at half precision (half the file; ``load_head`` widens them
    back to float32, and the head's outputs move by about 1e-3 of a cosine).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"saved_at": datetime.datetime.now(datetime.UTC).isoformat(), **metadata}
    if float16:
        weights = {name: a.astype(np.float16) if a.ndim and a.dtype.kind == "f" else a
                   for name, a in weights.items()}
    with path.open("wb") as handle:  # a file handle, so numpy never appends a second .npz suffix
        np.savez(handle, metadata=np.array(json.dumps(metadata, default=str)), **weights)
    return path


def head_digest(weights: dict[str, np.ndarray], length: int = 8) -> str:
    """A short SHA-256 of the head's arrays (names, shapes and values as loaded): part of its encoder id."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        array = np.ascontiguousarray(weights[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:length]


def load_head(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read what ``save_head`` wrote: ``(weights, metadata)``, arrays as float32; never unpickles."""
    with np.load(path, allow_pickle=False) as data:
        weights = {name: data[name] for name in data.files if name != "metadata"}
        weights = {name: a.astype(np.float32) if a.dtype == np.float16 else a for name, a in weights.items()}
        return weights, json.loads(str(data["metadata"]))


def store_similarity_floor(path: str | Path, floor: float, calibration: dict[str, Any]) -> Path:
    """Record a calibrated ``similarity_floor`` (and how it was measured) in the head file at ``path``.

    The arrays are written back unchanged, at the precision they were stored in.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        weights = {name: data[name] for name in data.files if name != "metadata"}
        metadata = json.loads(str(data["metadata"]))
    metadata.update(similarity_floor=float(floor), similarity_floor_calibration=calibration)
    with path.open("wb") as handle:
        np.savez(handle, metadata=np.array(json.dumps(metadata, default=str)), **weights)
    return path
