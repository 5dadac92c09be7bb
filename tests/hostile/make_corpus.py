"""Generate the hostile and unusual upload corpus: bombs, lies, junk, and odd-but-valid photos.

Nothing here is committed as a blob; ``build_corpus()`` writes every file in a
second or two. Each ``Case`` says what the image gate must answer: the refusal
``code`` (``None`` for an accepted file) and so the HTTP status.

    python tests/hostile/make_corpus.py /tmp/corpus     # write the files to look at
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# Kept in step with visual_search.images.STATUS_BY_CODE; the tests check both agree.
STATUS = {
    None: 200,
    "empty": 400,
    "corrupt": 400,
    "too_large": 413,
    "unsupported_format": 415,
    "too_many_pixels": 422,
    "extreme_aspect_ratio": 422,
    "too_costly_to_decode": 422,
}

ORIENTATION = 0x0112


@dataclass(frozen=True)
class Case:
    name: str
    filename: str  # what the client claims; the gate must never care
    content_type: str
    code: str | None  # expected refusal code; None means accepted
    data: bytes
    why: str

    @property
    def status(self) -> int:
        return STATUS[self.code]


def _photo(size: int = 320) -> Image.Image:
    """A real photo (scikit-image's cat), so accepted cases embed something meaningful."""
    from skimage import data  # noqa: PLC0415

    image = Image.fromarray(data.chelsea()).convert("RGB")
    image.thumbnail((size, size))
    return image


def _encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(
    width: int, height: int, bit_depth: int, colour_type: int, row: bytes, *, extra: bytes = b""
) -> bytes:
    """A PNG whose every row is ``row`` (filter byte 0 added), compressed as it is generated."""
    compressor = zlib.compressobj(9)
    line = b"\x00" + row
    parts = []
    block = line * max(1, (1 << 20) // len(line))  # feed about 1 MB at a time
    rows_per_block = len(block) // len(line)
    left = height
    while left:
        take = min(left, rows_per_block)
        parts.append(compressor.compress(block if take == rows_per_block else line * take))
        left -= take
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (with a valid CRC) claims ``width`` x ``height``."""
    data = bytearray(_encode(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small baseline JPEG whose SOF0 marker claims ``width`` x ``height``."""
    data = bytearray(_encode(Image.new("RGB", (16, 16), "red"), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    """An RLE8 BMP header claiming ``width`` x ``height`` followed by a few bytes of runs."""
    pixels = b"\x00\x01" * 8  # end-of-line / end-of-bitmap escapes
    palette = b"\x00\x00\x00\x00" * 256
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def png16_rgb(image: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG of ``image`` (Pillow cannot write one itself)."""
    values = np.asarray(image, dtype=np.uint16) * 257
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)
    width, height = image.size
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 6))
        + _chunk(b"IEND", b"")
    )


def worst_case_png() -> bytes:
    """The costliest accepted upload: 6300 x 6300 16-bit RGB (39.7 MP, 159 MB decoded), 0.2 MB on the wire."""
    return raw_png(6300, 6300, 16, 2, b"\x12\x34\x56\x78\x9a\xbc" * 6300)


def build_corpus() -> list[Case]:
    """Every case, generated in memory."""
    photo = _photo()
    jpeg = _encode(photo, "JPEG", quality=90)
    png = _encode(photo, "PNG")
    cases: list[Case] = []

    def add(name, filename, content_type, code, data, why):
        cases.append(Case(name, filename, content_type, code, data, why))

    # --- Empty, junk and formats that are not accepted images, whatever they claim to be.
    add("zero_bytes", "photo.jpg", "image/jpeg", "empty", b"", "no bytes at all")
    add(
        "random_bytes",
        "photo.jpg",
        "image/jpeg",
        "unsupported_format",
        np.random.default_rng(1).bytes(8192),
        "noise with an image name",
    )
    add(
        "svg_script",
        "photo.png",
        "image/png",
        "unsupported_format",
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
        "SVG with script, claiming PNG",
    )
    add(
        "svg_plain",
        "logo.svg",
        "image/svg+xml",
        "unsupported_format",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "SVG",
    )
    add(
        "pdf",
        "scan.jpg",
        "image/jpeg",
        "unsupported_format",
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n",
        "a PDF named .jpg",
    )
    add(
        "html",
        "photo.gif",
        "image/gif",
        "unsupported_format",
        b"<!doctype html><html><script>document.cookie</script></html>",
        "HTML claiming GIF",
    )
    add(
        "zip_archive",
        "photo.png",
        "image/png",
        "unsupported_format",
        b"PK\x03\x04" + b"\x00" * 26 + b"PK\x05\x06" + b"\x00" * 18,
        "a ZIP named .png",
    )
    add(
        "pcx_as_jpeg",
        "photo.jpg",
        "image/jpeg",
        "unsupported_format",
        _encode(photo, "PCX"),
        "a real image in a format outside the allow-list",
    )
    add(
        "ico_as_png",
        "favicon.png",
        "image/png",
        "unsupported_format",
        _encode(photo.resize((64, 64)), "ICO"),
        "ICO outside the allow-list",
    )
    add(
        "eps",
        "photo.jpg",
        "application/postscript",
        "unsupported_format",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "PostScript runs Ghostscript if opened",
    )

    # --- Broken files.
    add("truncated_jpeg", "photo.jpg", "image/jpeg", "corrupt", jpeg[: len(jpeg) // 2], "cut in half")
    add("truncated_png", "photo.png", "image/png", "corrupt", png[: len(png) // 2], "cut in half")
    bad_crc = bytearray(png)
    bad_crc[bad_crc.index(b"IDAT") + 50] ^= 0xFF
    add("png_bad_crc", "photo.png", "image/png", "corrupt", bytes(bad_crc), "flipped byte inside IDAT")
    ztxt = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (64 << 20), 9))
    add(
        "png_text_bomb",
        "photo.png",
        "image/png",
        "corrupt",
        png[:33] + ztxt + png[33:],
        "a 64 MB compressed comment in 64 kB",
    )

    # --- Bombs and absurd dimensions, refused from the header before decoding.
    add(
        "png_bomb_64mp",
        "photo.png",
        "image/png",
        "too_many_pixels",
        raw_png(8000, 8000, 8, 0, bytes(8000)),
        "8000 x 8000 of zeros, real pixel data",
    )
    add(
        "png_claims_10g_pixels",
        "photo.png",
        "image/png",
        "too_many_pixels",
        png_claiming(100_000, 100_000),
        "header claims 100000 x 100000",
    )
    add(
        "jpeg_claims_60000",
        "photo.jpg",
        "image/jpeg",
        "too_many_pixels",
        jpeg_claiming(60_000, 60_000),
        "SOF claims 60000 x 60000",
    )
    add(
        "bmp_rle_claims_50000",
        "photo.bmp",
        "image/bmp",
        "too_many_pixels",
        bmp_claiming(50_000, 50_000),
        "RLE BMP claiming 2.5 G pixels",
    )
    add(
        "tiff_deflate_49mp",
        "photo.tif",
        "image/tiff",
        "too_many_pixels",
        _encode(Image.new("L", (7000, 7000)), "TIFF", compression="tiff_adobe_deflate"),
        "49 MP TIFF of zeros",
    )
    add(
        "webp_49mp",
        "photo.webp",
        "image/webp",
        "too_many_pixels",
        _encode(Image.new("RGB", (7000, 7000), "white"), "WEBP", quality=10),
        "49 MP WebP",
    )
    frames = [Image.new("P", (2000, 2000), i % 2) for i in range(11)]
    add(
        "gif_frames_44mp",
        "anim.gif",
        "image/gif",
        "too_many_pixels",
        _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "11 frames of 4 MP",
    )
    add(
        "strip_1x100000",
        "photo.png",
        "image/png",
        "extreme_aspect_ratio",
        raw_png(1, 100_000, 8, 0, b"\x80"),
        "a 1 x 100000 strip",
    )
    add(
        "strip_30000x10",
        "photo.png",
        "image/png",
        "extreme_aspect_ratio",
        raw_png(30_000, 10, 8, 0, bytes(30_000)),
        "3000:1",
    )
    progressive = Image.new("RGB", (6000, 6000), (200, 30, 30))
    add(
        "jpeg_progressive_444_36mp",
        "photo.jpg",
        "image/jpeg",
        "too_costly_to_decode",
        _encode(progressive, "JPEG", progressive=True, subsampling=0, quality=50),
        "libjpeg holds 216 MB of coefficients for this",
    )

    # --- Polyglots: a valid image with something else glued on is still just that image.
    add(
        "jpeg_zip_polyglot",
        "photo.jpg",
        "image/jpeg",
        None,
        jpeg + _encode(Image.new("L", (1, 1)), "PNG") + b"PK\x05\x06" + b"\x00" * 18,
        "JPEG with a PNG and a ZIP directory appended",
    )
    add(
        "gif_html_polyglot",
        "photo.gif",
        "image/gif",
        None,
        _encode(photo, "GIF") + b"<script>alert(1)</script>",
        "GIF with HTML after its trailer",
    )
    add(
        "png_php_comment",
        "photo.png",
        "image/png",
        None,
        png[:33] + _chunk(b"tEXt", b"Comment\x00<?php system($_GET['c']); ?>") + png[33:],
        "PHP in a tEXt chunk",
    )

    # --- Valid but unusual: all accepted, all decoded right (tests/hostile/test_unusual.py checks results).
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription: a 60 kB EXIF block
    add(
        "jpeg_huge_exif",
        "photo.jpg",
        "image/jpeg",
        None,
        _encode(photo, "JPEG", exif=exif.tobytes()),
        "60 kB of EXIF",
    )
    add(
        "jpeg_cmyk",
        "photo.jpg",
        "image/jpeg",
        None,
        _encode(photo.convert("CMYK"), "JPEG", quality=92),
        "CMYK",
    )
    add("png_16bit_rgb", "photo.png", "image/png", None, png16_rgb(photo), "16 bits per channel")
    add(
        "png_16bit_grey_6300",
        "photo.png",
        "image/png",
        None,
        raw_png(6300, 6300, 16, 0, b"\x40\x00" * 6300),
        "the issue's 91 kB, 6300 x 6300 16-bit PNG",
    )
    add("png_16bit_rgb_6300", "photo.png", "image/png", None, worst_case_png(), "worst accepted decode")
    add(
        "png_palette_transparent",
        "photo.png",
        "image/png",
        None,
        _encode(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0),
        "palette + tRNS",
    )
    rotated = Image.Exif()
    rotated[ORIENTATION] = 6
    add(
        "jpeg_exif_rotated",
        "photo.jpg",
        "image/jpeg",
        None,
        _encode(photo.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=rotated.tobytes(), quality=92),
        "stored sideways, EXIF says rotate",
    )
    add(
        "gif_animated",
        "anim.gif",
        "image/gif",
        None,
        _encode(
            photo, "GIF", save_all=True, append_images=[photo.rotate(90), photo.rotate(180)], duration=100
        ),
        "three frames; the first is used",
    )
    add(
        "jpeg_progressive",
        "photo.jpg",
        "image/jpeg",
        None,
        _encode(photo, "JPEG", progressive=True, quality=90),
        "progressive, 4:2:0",
    )
    add("png_1x1", "dot.png", "image/png", None, _encode(Image.new("RGB", (1, 1), "red"), "PNG"), "one pixel")
    add(
        "png_wide_20_to_1",
        "banner.png",
        "image/png",
        None,
        _encode(photo.resize((4000, 200)), "PNG"),
        "exactly at the aspect cap",
    )
    add("webp_named_jpg", "photo.jpg", "image/jpeg", None, _encode(photo, "WEBP"), "a WebP with a JPEG name")
    add(
        "tiff_lzw",
        "photo.tif",
        "image/tiff",
        None,
        _encode(photo, "TIFF", compression="tiff_lzw"),
        "LZW TIFF",
    )
    add("bmp", "photo.bmp", "application/octet-stream", None, _encode(photo, "BMP"), "BMP, generic type")
    return cases


def write_corpus(directory: Path) -> list[Path]:
    """Write every case to ``directory`` as ``<name>__<claimed filename>``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in build_corpus():
        path = directory / f"{case.name}__{case.filename}"
        path.write_bytes(case.data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for written in write_corpus(target):
        print(written, written.stat().st_size)
