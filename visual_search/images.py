"""Decode and validate images: the one gate for stored product images and uploads alike.

``open_image`` enforces, in this order and before any pixel is decompressed:
the byte cap, the format allow-list by what Pillow decodes (never by name or
Content-Type), the pixel cap (width x height x frames, from the header), and
the aspect-ratio cap. Decoding then waits for room in a per-process memory
budget sized from the header, so concurrent uploads cannot add up to more than
the budget. Given a ``target_size``, JPEGs decode at a reduced scale (Pillow's
``draft``) and everything else is shrunk right after decoding, so a query
photo never lives at full size for longer than one decode.

``to_rgb`` turns whatever mode a file decoded to into upright 8-bit RGB, the
only input encoders accept. Every refusal is an ``InvalidImage`` with a stable
``code``, an HTTP ``status`` and a message in words.
"""

from __future__ import annotations

import io
import re
import threading
import time
import warnings
from collections.abc import Iterable
from contextlib import contextmanager
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["InvalidImage", "open_image", "to_rgb"]

# Pillow reports multi-picture JPEGs (common from phones and cameras) as MPO.
FORMAT_ALIASES = {"MPO": "JPEG"}

#: HTTP status for each refusal code; views answer with these.
STATUS_BY_CODE = {
    "empty": 400,
    "corrupt": 400,
    "too_large": 413,
    "unsupported_format": 415,
    "too_many_pixels": 422,
    "extreme_aspect_ratio": 422,
    "too_costly_to_decode": 422,
    "busy": 503,
}

# Bytes Pillow keeps per pixel in each mode; anything not listed (RGB is stored as 4) takes 4.
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "LA": 4}

ORIENTATION = 0x0112

# How long a decode waits for room in the memory budget before the request is told to come back.
BUDGET_WAIT_SECONDS = 30.0
#: What a ``busy`` answer asks the client to wait: the decodes in the way finish within seconds.
BUSY_RETRY_AFTER_SECONDS = 5


class InvalidImage(ValueError):
    """An image was refused; ``code`` is a short slug for APIs, ``str(exc)`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def status(self) -> int:
        """The HTTP status a view should answer with (4xx, or 503 when the server is saturated)."""
        return STATUS_BY_CODE.get(self.code, 400)

    @property
    def retry_after(self) -> int | None:
        """Seconds a client should wait before trying again (a ``Retry-After`` header), for ``busy`` only."""
        return BUSY_RETRY_AFTER_SECONDS if self.code == "busy" else None


def open_image(
    source: bytes | BinaryIO,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    allowed_formats: Iterable[str] | None = None,
    max_aspect_ratio: float | None = None,
    target_size: int | None = None,
) -> Image.Image:
    """Decode ``source`` (bytes, or a binary file read from its current position) into a loaded image.

    Arguments left as ``None`` come from ``VISUAL_SEARCH`` settings (``target_size``
    excepted). Without ``target_size`` the first frame is returned at full size in
    the mode it decoded to. With it, the image comes back as upright RGB whose short
    side is at least ``target_size`` (or its own, if smaller) and at most about twice
    that. Raises ``InvalidImage`` with code ``empty``, ``too_large``,
    ``unsupported_format``, ``too_many_pixels``, ``extreme_aspect_ratio``,
    ``too_costly_to_decode``, ``corrupt`` or ``busy``.
    """
    max_bytes = _setting("MAX_IMAGE_BYTES", max_bytes)
    max_pixels = _setting("MAX_IMAGE_PIXELS", max_pixels)
    allowed_formats = _setting("ALLOWED_IMAGE_FORMATS", allowed_formats)
    max_aspect_ratio = _setting("MAX_IMAGE_ASPECT_RATIO", max_aspect_ratio)
    budget = int(_setting("DECODE_MEMORY_BUDGET", None))
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
            _check_header(image, allowed, max_pixels, max_aspect_ratio)
            # verify() checks structure (e.g. PNG CRCs) without decoding and leaves the
            # image unusable, so decode from a fresh parser.
            image.verify()
            image = Image.open(io.BytesIO(data), formats=openable)
            full_size = image.size
            if target_size:
                # JPEG only: libjpeg scales by 1/2, 1/4 or 1/8 while decoding; both sides stay >= the request.
                image.draft("RGB", (target_size, target_size))
            with _budget.reserve(_decode_cost(image, full_size), budget):
                image.load()
                if target_size:
                    image = to_rgb(_shrink(image, target_size))
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


def _setting(name: str, value):
    """``value`` if given, else the ``VISUAL_SEARCH`` setting (its default outside a Django project)."""
    if value is not None:
        return value
    from django.conf import settings  # noqa: PLC0415 - scripts may call this without a project

    from visual_search.conf import DEFAULTS, vs_settings  # noqa: PLC0415

    return getattr(vs_settings, name) if settings.configured else DEFAULTS[name]


def _openable(formats: list[str]) -> list[str]:
    # Pillow raises KeyError for names it has no opener for (e.g. HEIC without a plugin).
    Image.init()
    return [name for name in formats if name in Image.OPEN]


def _check_header(image: Image.Image, allowed: list[str], max_pixels: int, max_aspect_ratio: float) -> None:
    format_name = FORMAT_ALIASES.get(image.format, image.format)
    if format_name not in allowed:
        raise InvalidImage("unsupported_format", f"{image.format} images are not accepted.")
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage("corrupt", "The image has no pixels.")
    # Refuse on one frame's size first: counting the frames of a huge animation costs time.
    if width * height > max_pixels:
        raise InvalidImage(
            "too_many_pixels", f"The image has {width * height:,} pixels; the limit is {max_pixels:,}."
        )
    pixels = width * height * getattr(image, "n_frames", 1)
    if pixels > max_pixels:
        raise InvalidImage(
            "too_many_pixels",
            f"The image has {pixels:,} pixels over all its frames; the limit is {max_pixels:,}.",
        )
    ratio = max(width, height) / min(width, height)
    if ratio > max_aspect_ratio:
        raise InvalidImage(
            "extreme_aspect_ratio",
            f"The image is {width} x {height} pixels; its long side may be at most "
            f"{max_aspect_ratio:g} times its short side.",
        )


def _decode_cost(image: Image.Image, full_size: tuple[int, int]) -> int:
    """Bytes a decode of ``image`` (after any draft) holds at its peak, from the header alone."""
    width, height = image.size
    cost = width * height * _BYTES_PER_PIXEL.get(image.mode, 4)
    if image.format in ("JPEG", "MPO") and image.info.get("progressive"):
        # libjpeg keeps every DCT coefficient (2 bytes each) of a progressive JPEG at full
        # size until the last scan, whatever the draft scale.
        full_width, full_height = full_size
        layers = getattr(image, "layer", None) or [(None, 1, 1, None)] * 3
        h_max = max(layer[1] for layer in layers) or 1
        v_max = max(layer[2] for layer in layers) or 1
        planes = sum(layer[1] * layer[2] for layer in layers) / (h_max * v_max)
        cost += int(full_width * full_height * planes * 2)
    return cost


def _shrink(image: Image.Image, target_size: int) -> Image.Image:
    """Box-filter ``image`` down so its short side is between ``target_size`` and twice that."""
    width, height = image.size
    factor = min(width, height) // target_size
    if factor < 2:
        return image
    orientation = image.getexif().get(ORIENTATION)
    # Box filtering works in every mode, 16-bit and palette included (nearest for those).
    small = image.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BOX)
    # The resized copy loses TIFF tags, and JPEG EXIF can be large: keep only the orientation.
    small.info.pop("exif", None)
    if orientation:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        small.info["exif"] = exif.tobytes()
    return small


class _DecodeBudget:
    """Bytes of decoded pixels this process may hold at once; decodes wait for room."""

    def __init__(self) -> None:
        self._in_use = 0
        self._room = threading.Condition()

    @contextmanager
    def reserve(self, cost: int, total: int):
        if cost > total:
            raise InvalidImage(
                "too_costly_to_decode",
                f"Decoding this image would take about {cost / 2**20:,.0f} MiB; the limit is "
                f"{total / 2**20:,.0f} MiB. Send a smaller image, or a baseline (not progressive) JPEG.",
            )
        deadline = time.monotonic() + BUDGET_WAIT_SECONDS
        with self._room:
            while self._in_use and self._in_use + cost > total:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InvalidImage("busy", "The server is decoding too many images; try again shortly.")
                self._room.wait(left)
            self._in_use += cost
        try:
            yield
        finally:
            with self._room:
                self._in_use -= cost
                self._room.notify_all()


_budget = _DecodeBudget()


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` upright (EXIF orientation applied) as 8-bit RGB, alpha flattened onto white.

    An image that is both already is returned as it is, not copied (``exif_transpose`` would copy it:
    a worker calls this once as it decodes and again as the encoder prepares the same photo).
    """
    image.load()
    if image.getexif().get(ORIENTATION, 1) not in (1, None):  # the test exif_transpose makes
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
        raise InvalidImage(
            "unsupported_format", f"Images in mode {mode} cannot be converted to RGB."
        ) from exc


def _from_array(values: np.ndarray) -> Image.Image:
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/(?:[^\s'\"():,/]+/)+([^\s'\"():,/]*)")


def without_server_paths(text: str) -> str:
    """``text`` with the server's file paths taken out, for the rows the admin and the API show.

    A path under ``MEDIA_ROOT`` becomes its storage name; any other absolute path
    keeps only its last part (``…/passwd``). Exceptions from storages and the OS
    name full paths, which say more about the server than an editor needs.
    """
    from django.conf import settings  # noqa: PLC0415

    media = str(getattr(settings, "MEDIA_ROOT", "") or "").rstrip("/")
    if media:
        text = text.replace(media + "/", "").replace(media, "MEDIA_ROOT")
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + m.group(1), text)


def difference_hash(image: Image.Image) -> str:
    """A 64-bit perceptual hash (dHash) as 16 hex digits: the same photo re-sent or re-encoded hashes alike.

    It tells repeated searches apart without keeping the photo; nothing of the photo can be rebuilt from it.
    """
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"
