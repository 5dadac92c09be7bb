"""Decode and validate images: the one gate for stored product images and uploads alike.

``open_image`` enforces the byte cap before decoding, the format allow-list by
what Pillow decodes (not by extension or Content-Type), and the pixel cap
before pixel data is decompressed. ``to_rgb`` turns whatever mode a file
decoded to into upright 8-bit RGB, the only input encoders accept.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["InvalidImage", "open_image", "to_rgb"]

# Pillow reports multi-picture JPEGs (common from phones and cameras) as MPO.
FORMAT_ALIASES = {"MPO": "JPEG"}


class InvalidImage(ValueError):
    """An image was refused; ``code`` is a short slug for APIs, ``str(exc)`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def open_image(
    source: bytes | BinaryIO,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    allowed_formats: Iterable[str] | None = None,
) -> Image.Image:
    """Decode ``source`` (bytes, or a binary file read from its current position) into a loaded image.

    Arguments left as ``None`` come from ``VISUAL_SEARCH`` settings. Raises
    ``InvalidImage`` with code ``empty``, ``too_large``, ``unsupported_format``,
    ``too_many_pixels`` or ``corrupt``. Only the first frame is loaded.
    """
    if max_bytes is None or max_pixels is None or allowed_formats is None:
        from visual_search.conf import vs_settings  # noqa: PLC0415 - only when a cap is not given

        max_bytes = vs_settings.MAX_IMAGE_BYTES if max_bytes is None else max_bytes
        max_pixels = vs_settings.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
        allowed_formats = vs_settings.ALLOWED_IMAGE_FORMATS if allowed_formats is None else allowed_formats
    allowed = sorted({name.upper() for name in allowed_formats})
    # Passed to Image.open so Pillow never even parses headers of formats we do not accept.
    openable = _openable(allowed)

    # Read one byte past the cap so an oversized stream is never held whole.
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else source.read(max_bytes + 1)
    if not data:
        raise InvalidImage("empty", "The image file is empty.")
    if len(data) > max_bytes:
        raise InvalidImage("too_large", f"The image file is larger than {max_bytes:,} bytes.")

    with warnings.catch_warnings():
        # Pillow only warns between its own limit and twice it; any bomb warning is a refusal here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=openable)
            format_name = FORMAT_ALIASES.get(image.format, image.format)
            if format_name not in allowed:
                raise InvalidImage("unsupported_format", f"{image.format} images are not accepted.")
            width, height = image.size
            pixels = width * height * getattr(image, "n_frames", 1)
            if pixels > max_pixels:
                raise InvalidImage(
                    "too_many_pixels", f"The image has {pixels:,} pixels; the limit is {max_pixels:,}."
                )
            # verify() checks structure (e.g. PNG CRCs) without decoding and leaves the
            # image unusable, so decode from a fresh parser.
            image.verify()
            image = Image.open(io.BytesIO(data), formats=openable)
            image.load()
        except InvalidImage:
            raise
        except UnidentifiedImageError:
            raise InvalidImage(
                "unsupported_format", f"Not an image in an accepted format ({', '.join(allowed)})."
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidImage("too_many_pixels", "The image has too many pixels.") from None
        except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError, struct.error...
            raise InvalidImage("corrupt", f"The image could not be decoded: {exc}") from None
    return image


def _openable(formats: list[str]) -> list[str]:
    # Pillow raises KeyError for names it has no opener for (e.g. HEIC without a plugin).
    Image.init()
    return [name for name in formats if name in Image.OPEN]


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` upright (EXIF orientation applied) as 8-bit RGB, alpha flattened onto white."""
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode == "I":
        # 32-bit "I" is how Pillow widens 16-bit sources, so both are scaled from 0-65535.
        return _from_array(np.asarray(image, dtype=np.float32) / 257.0)
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        # Float images are usually normalised to 0-1; otherwise take them as 0-255.
        return _from_array(values * 255.0 if values.size and values.max() <= 1.0 else values)
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        # 1, L, P, CMYK (Pillow already undoes Adobe's inverted CMYK JPEGs), YCbCr, HSV...
        return image.convert("RGB")
    except ValueError as exc:
        raise InvalidImage("unsupported_format", f"Images in mode {mode} cannot be converted to RGB.") from exc


def _from_array(values: np.ndarray) -> Image.Image:
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")
