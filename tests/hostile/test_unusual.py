"""Valid but unusual photos are understood: each variant embeds like the plain photo (real encoder).

And end to end: uploaded in its odd form, the photo finds its own product first.
"""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from tests.conftest import ROOT
from tests.hostile.conftest import API_URL
from tests.hostile.make_corpus import ORIENTATION, png16_rgb, raw_png, worst_case_png
from visual_search.search.service import embed_query_image

pytestmark = pytest.mark.django_db


def photo(name: str = "chelsea") -> Image.Image:
    from skimage import data  # noqa: PLC0415

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def variants(image: Image.Image) -> dict[str, bytes]:
    rotated = Image.Exif()
    rotated[ORIENTATION] = 6
    side = min(image.size)
    square = image.crop((0, 0, side, side))
    wide = Image.new("RGB", (side * 20, side), "white")
    wide.paste(square, (side * 19 // 2, 0))  # the centre square is the photo: what the encoder crops
    big = image.resize((image.width * 12, image.height * 12), Image.Resampling.BICUBIC)  # ~19 MP
    return {
        "cmyk_jpeg": encode(image.convert("CMYK"), "JPEG", quality=95),
        "png_16bit": png16_rgb(image),
        "palette_transparent": encode(
            image.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=255
        ),
        "exif_rotated": encode(
            image.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=rotated.tobytes(), quality=95
        ),
        "animated_gif": encode(image, "GIF", save_all=True, append_images=[image.rotate(180)], duration=100),
        "progressive_jpeg": encode(image, "JPEG", progressive=True, quality=90),
        "wide_20_to_1": encode(wide, "PNG"),
        "big_jpeg_drafted": encode(big, "JPEG", quality=90),
        "big_png_shrunk": encode(big, "PNG", compress_level=1),
    }


def cosine(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_odd_encodings_embed_like_the_plain_photo():
    image = photo()
    plain = embed_query_image(encode(image, "JPEG", quality=95))
    other = embed_query_image(encode(photo("coffee"), "JPEG", quality=95))
    square = image.crop((0, 0, min(image.size), min(image.size)))
    plain_square = embed_query_image(encode(square, "JPEG", quality=95))
    scores = {}
    for name, data in variants(image).items():
        reference = plain_square if name == "wide_20_to_1" else plain
        scores[name] = cosine(embed_query_image(data), reference)
    print("\n" + "\n".join(f"{name:22} cosine {score:.3f}" for name, score in scores.items()))
    assert cosine(plain, other) < 0.6  # what "different photo" looks like
    assert all(score > 0.9 for score in scores.values()), scores


def test_exif_rotation_is_applied_not_ignored():
    image = photo()
    rotated = Image.Exif()
    rotated[ORIENTATION] = 6
    sideways = image.transpose(Image.Transpose.ROTATE_90)
    query = embed_query_image(encode(sideways, "JPEG", exif=rotated.tobytes(), quality=95))
    assert (
        cosine(query, embed_query_image(encode(image, "JPEG", quality=95)))
        > cosine(query, embed_query_image(encode(sideways, "JPEG", quality=95))) + 0.05
    )


def test_one_pixel_and_flat_images_embed_to_finite_vectors():
    for data in (
        encode(Image.new("RGB", (1, 1), "red"), "PNG"),
        raw_png(6300, 6300, 16, 0, b"\x40\x00" * 6300),
    ):
        vector = embed_query_image(data)
        assert np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-3


@pytest.fixture
def catalogue(settings):
    """Three demo-shop products, one photo each, embedded by the real encoder."""
    from shop.models import Category, Product  # noqa: PLC0415
    from visual_search.indexing.sync import sync_products  # noqa: PLC0415

    settings.VISUAL_SEARCH = {**settings.VISUAL_SEARCH, "AUTO_EMBED": False, "API_THROTTLE_RATES": {}}
    category = Category.objects.create(name="Things", slug="things")
    products = {}
    for name in ("chelsea", "coffee", "astronaut"):
        product = Product(name=name, slug=name, price=Decimal("1.00"), category=category)
        product.image.save(f"{name}.jpg", ContentFile(encode(photo(name), "JPEG", quality=90)), save=False)
        product.save()
        products[name] = product
    sync_products([p.pk for p in products.values()])
    return products


def test_each_odd_upload_finds_its_product_first(catalogue, api_client):
    for name, data in variants(photo()).items():
        if name == "wide_20_to_1":
            continue  # its centre square is a crop, not the catalogue photo
        response = api_client.post(API_URL, {"image": ContentFile(data, name="upload")})
        assert response.status_code == 200, (name, response.content[:200])
        first = response.json()["results"][0]
        assert first["id"] == str(catalogue["chelsea"].pk), (name, first)


# VmHWM is this process's own peak (ru_maxrss would carry the parent's across fork and exec).
WORST_FILE_SCRIPT = """
import sys
from visual_search.images import open_image
def peak_kib():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
data = open(sys.argv[1], "rb").read()
before = peak_kib()
image = open_image(data, target_size=512)
print(before, peak_kib(), image.size)
"""


def test_peak_memory_of_the_worst_accepted_file_is_bounded(tmp_path):
    """In a fresh process, the 6300 x 6300 16-bit RGB PNG costs one decode (~180 MiB at peak), not ~1 GB."""
    path = tmp_path / "worst.png"
    path.write_bytes(worst_case_png())
    result = subprocess.run(
        [sys.executable, "-c", WORST_FILE_SCRIPT, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    before, after, *_ = result.stdout.split()
    peak_mib = (int(after) - int(before)) / 1024
    print(f"\nworst accepted file: peak RSS +{peak_mib:.0f} MiB over the process before decoding")
    assert 100 < peak_mib < 200
