"""Test data for the shop: small JPEGs and photo folders."""

from __future__ import annotations

import io
from pathlib import Path

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
