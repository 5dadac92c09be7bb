"""visual_search.images: the caps, the format allow-list, and deliberate conversion to RGB."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.conftest import photo_bytes
from visual_search.images import InvalidImage, open_image, to_rgb

CAPS = {
    "max_bytes": 5_000_000,
    "max_pixels": 20_000_000,
    "allowed_formats": ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"],
}
ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def refused(source, **caps) -> str:
    with pytest.raises(InvalidImage) as info:
        open_image(source, **{**CAPS, **caps})
    assert str(info.value)
    return info.value.code


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (with a valid CRC) claims ``width`` x ``height`` pixels."""
    data = bytearray(encode(Image.new("L", (1, 1))))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(data[12:29]))
    return bytes(data)


def test_decodes_bytes_and_file_objects_fully():
    jpeg = photo_bytes("chelsea")
    for source in (jpeg, io.BytesIO(jpeg)):
        image = open_image(source, **CAPS)
        assert (image.format, image.size, image.mode) == ("JPEG", (451, 300), "RGB")
        assert image.im is not None  # pixels are decoded, not lazily pending


def test_multi_picture_jpeg_counts_as_jpeg():
    pictures = [Image.new("RGB", (64, 48), colour) for colour in ("red", "blue")]
    mpo = encode(pictures[0], "MPO", save_all=True, append_images=pictures[1:])
    image = open_image(mpo, **{**CAPS, "allowed_formats": ["JPEG"]})
    assert (image.format, image.tell(), image.getpixel((5, 5))[0] > 200) == ("MPO", 0, True)


def test_defaults_come_from_settings():
    assert open_image(photo_bytes("coffee", fmt="PNG")).format == "PNG"


def test_empty():
    assert refused(b"") == "empty"
    assert refused(io.BytesIO()) == "empty"


def test_byte_cap_is_checked_before_decoding_and_reads_no_further():
    stream = io.BytesIO(photo_bytes("chelsea"))
    assert refused(stream, max_bytes=1000) == "too_large"
    assert stream.tell() == 1001


def test_random_bytes_are_not_an_image():
    assert refused(np.random.default_rng(0).bytes(4096)) == "unsupported_format"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_corrupt(fmt):
    data = photo_bytes("chelsea", fmt=fmt)
    assert refused(data[: len(data) // 2]) == "corrupt"


def test_png_with_a_bad_checksum_is_corrupt():
    data = bytearray(photo_bytes("coffee", fmt="PNG"))
    idat = data.index(b"IDAT")
    data[idat + 100] ^= 0xFF
    assert refused(bytes(data)) == "corrupt"


@pytest.mark.parametrize("fmt", ["PCX", "ICO", "EPS"])
def test_formats_outside_the_allow_list_are_refused(fmt):
    assert refused(encode(Image.new("RGB", (32, 32), "red"), fmt)) == "unsupported_format"


def test_allow_list_is_by_decoded_format():
    png = photo_bytes("coffee", fmt="PNG")
    assert refused(png, allowed_formats=["JPEG"]) == "unsupported_format"
    assert open_image(png, **{**CAPS, "allowed_formats": ["png"]}).format == "PNG"


def test_pixel_cap_applies_before_decoding_a_small_bomb():
    bomb = encode(Image.new("L", (4000, 3000)))  # 12 megapixels in a few kB
    assert len(bomb) < 50_000
    assert refused(bomb, max_pixels=10_000_000) == "too_many_pixels"
    assert refused(png_claiming(5000, 5000), max_pixels=1_000_000) == "too_many_pixels"


@pytest.mark.parametrize("side", [10_000, 100_000])  # Pillow's warning range, then its error range
def test_pillow_bomb_checks_are_errors_even_with_a_lax_cap(side):
    filters, limit = list(warnings.filters), Image.MAX_IMAGE_PIXELS
    assert refused(png_claiming(side, side), max_pixels=10**12) == "too_many_pixels"
    assert (warnings.filters, Image.MAX_IMAGE_PIXELS) == (filters, limit)  # nothing global changed


def test_pixel_cap_counts_every_frame():
    frames = [Image.new("RGB", (100, 100), (80 * i, 0, 0)) for i in range(3)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert refused(gif, max_pixels=25_000) == "too_many_pixels"
    image = open_image(gif, **{**CAPS, "max_pixels": 30_000})
    assert (image.format, image.tell()) == ("GIF", 0)


def test_exif_orientation_is_applied():
    original = Image.new("RGB", (40, 20), "blue")
    original.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # "rotate 90 degrees clockwise to display"
    stored = encode(original.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes(), quality=95)
    upright = to_rgb(open_image(stored, **CAPS))
    assert upright.size == (40, 20)
    assert np.allclose(upright.getpixel((5, 10)), (255, 0, 0), atol=12)
    assert np.allclose(upright.getpixel((35, 10)), (0, 0, 255), atol=12)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    image = to_rgb(open_image(cmyk, **CAPS))
    assert image.mode == "RGB"
    assert np.allclose(image.getpixel((8, 8)), (255, 0, 0), atol=6)


def test_transparency_is_flattened_onto_white():
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    transparent_png = encode(palette, transparency=0)
    la = Image.new("LA", (4, 4), (0, 0))
    la.putpixel((0, 0), (0, 255))
    rgba = Image.new("RGBA", (4, 4), (0, 0, 255, 128))
    for source in (transparent_png, encode(la), encode(rgba)):
        image = to_rgb(open_image(source, **CAPS))
        assert image.mode == "RGB"
    assert to_rgb(open_image(transparent_png, **CAPS)).getpixel((1, 1)) == (255, 0, 0)
    assert to_rgb(open_image(transparent_png, **CAPS)).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(open_image(encode(la), **CAPS)).getpixel((1, 1)) == (255, 255, 255)
    assert to_rgb(open_image(encode(la), **CAPS)).getpixel((0, 0)) == (0, 0, 0)
    assert to_rgb(rgba).getpixel((0, 0)) == (127, 127, 255)


def test_sixteen_bit_and_wider_greys_are_scaled_to_eight_bits():
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    sixteen = open_image(encode(Image.fromarray(values)), **CAPS)
    assert sixteen.mode.startswith("I")
    for image in (sixteen, Image.fromarray(values.astype(np.int32))):
        assert np.asarray(to_rgb(image))[0, :, 0].tolist() == [0, 128, 255]


def test_float_bilevel_and_grey_modes():
    assert to_rgb(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))).getpixel((1, 0)) == (128,) * 3
    assert to_rgb(Image.fromarray(np.array([[0.0, 300.0]], dtype=np.float32))).getpixel((1, 0)) == (255,) * 3
    assert to_rgb(Image.new("1", (2, 2), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("L", (2, 2), 77)).getpixel((0, 0)) == (77, 77, 77)
