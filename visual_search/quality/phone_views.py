"""Phone-like views of catalogue photos: how a shopper's photo of a product differs from its packshot.

Calibration (``calibration.py``) and the training guard query the catalogue with
these views, so neither needs a photo from outside the catalogue.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

__all__ = ["VIEW_KINDS", "embed_views", "phone_view"]

#: Kinds of phone-like view, each a function of (image, rng, backdrop).
VIEW_KINDS = ("crop", "scale", "rotation", "blur", "jpeg", "light", "background")


def _backdrop(backdrop: Image.Image | None, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A busy background: a blown-up corner of another catalogue image, else coloured noise."""
    if backdrop is not None:
        w, h = backdrop.size
        side = max(8, int(min(w, h) * rng.uniform(0.3, 0.6)))
        left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        return backdrop.crop((left, top, left + side, top + side)).resize(size, Image.Resampling.BILINEAR)
    noise = rng.integers(0, 256, (max(1, size[1] // 8), max(1, size[0] // 8), 3), dtype=np.uint8)
    return Image.fromarray(noise).resize(size, Image.Resampling.BILINEAR)


def phone_view(image: Image.Image, kind: str, rng: np.random.Generator,
               backdrop: Image.Image | None = None) -> Image.Image:
    """A degraded copy of a catalogue photo, like a shopper's phone photo of the product.

    ``kind`` is one of ``VIEW_KINDS``; every view is also re-encoded as a phone JPEG.
    """
    image = image.convert("RGB")
    w, h = image.size
    if kind == "crop":  # off-centre framing that cuts part of the product
        f = rng.uniform(0.55, 0.8)
        cw, ch = int(w * f), int(h * f)
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        image = image.crop((left, top, left + cw, top + ch))
    elif kind == "scale":  # a small, far-away shot blown up again
        f = rng.uniform(0.2, 0.35)
        image = image.resize((max(8, int(w * f)), max(8, int(h * f))), Image.Resampling.BILINEAR).resize((w, h))
    elif kind == "rotation":
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        image = image.rotate(float(rng.uniform(12, 30) * rng.choice([-1, 1])), Image.Resampling.BILINEAR,
                             expand=True, fillcolor=fill)
    elif kind == "blur":
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.5, 3.0))))
    elif kind == "light":  # dim or harsh light with a colour cast
        image = ImageEnhance.Brightness(image).enhance(float(rng.choice([rng.uniform(0.45, 0.7), rng.uniform(1.3, 1.6)])))
        image = ImageEnhance.Contrast(image).enhance(float(rng.uniform(0.6, 1.3)))
        cast = np.asarray(image, np.float32) * rng.uniform(0.8, 1.2, 3)
        image = Image.fromarray(np.clip(cast, 0, 255).astype(np.uint8))
    elif kind == "background":  # the product smaller, somewhere on a busy scene
        scene = _backdrop(backdrop, (w, h), rng)
        f = rng.uniform(0.5, 0.7)
        small = image.resize((max(8, int(w * f)), max(8, int(h * f))), Image.Resampling.BILINEAR)
        scene.paste(small, (int(rng.integers(0, w - small.width + 1)), int(rng.integers(0, h - small.height + 1))))
        image = scene
    elif kind != "jpeg":
        raise ValueError(f"Unknown view kind {kind!r}; choose one of {', '.join(VIEW_KINDS)}.")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(20, 35) if kind == "jpeg" else rng.integers(60, 85)))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def embed_views(
    images: Sequence[Image.Image], embed: Callable[[list[Image.Image]], np.ndarray], count: int, *, seed: int = 0,
    batch: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` phone-like views of ``images`` (kinds in turn, images at random): ``(vectors, sources)``."""
    if not images or count <= 0:
        return np.zeros((0, 0), np.float32), np.zeros(0, int)
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, len(images), count)
    vectors = []
    for start in range(0, count, batch):
        views = []
        for i in range(start, min(count, start + batch)):
            src = int(sources[i])
            other = images[int(rng.integers(0, len(images)))] if len(images) > 1 else None
            views.append(phone_view(images[src], VIEW_KINDS[i % len(VIEW_KINDS)], rng, other))
        vectors.append(embed(views))
    return np.concatenate(vectors), sources
