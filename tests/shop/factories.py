"""Test data for the shop: small JPEGs, photo folders and Fashion-MNIST IDX files."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (32, 32)) -> bytes:
    """A small solid-colour JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_photo_folder(root: Path, layout: dict[str, int]) -> Path:
    """Write ``layout[category]`` small JPEGs into ``root/<category>/``."""
    for name, count in layout.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            (folder / f"img{i:02d}.jpg").write_bytes(jpeg_bytes((i * 40 % 256, 80, 120)))
    return root


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as a gzipped IDX file, the MNIST format."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def make_fashion_mnist(root: Path, labels: list[int]) -> Path:
    """Write a tiny Fashion-MNIST training set: one flat 28x28 image per label, row i filled with 10*i."""
    root.mkdir(parents=True, exist_ok=True)
    images = np.stack([np.full((28, 28), 10 * i, dtype=np.uint8) for i in range(len(labels))])
    write_idx(root / "train-images-idx3-ubyte.gz", images)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.array(labels, dtype=np.uint8))
    return root
