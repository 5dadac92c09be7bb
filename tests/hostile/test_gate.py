"""The upload gate's bounds: aspect ratio, reduced decoding, the memory budget, orientation kept."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tests.hostile.make_corpus import STATUS, raw_png
from visual_search.images import STATUS_BY_CODE, InvalidImage, _DecodeBudget, open_image

CAPS = {"max_bytes": 10_000_000, "max_pixels": 40_000_000, "allowed_formats": ["JPEG", "PNG", "GIF", "WEBP"]}


def encode(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def refused(data: bytes, **caps) -> InvalidImage:
    with pytest.raises(InvalidImage) as info:
        open_image(data, **{**CAPS, **caps})
    return info.value


def test_corpus_statuses_match_the_gate():
    assert {code: STATUS_BY_CODE[code] for code in STATUS if code} == {k: v for k, v in STATUS.items() if k}


def test_aspect_ratio_cap_from_the_header():
    error = refused(raw_png(1, 100_000, 8, 0, b"\x80"), max_aspect_ratio=20)
    assert (error.code, error.status) == ("extreme_aspect_ratio", 422)
    assert "1 x 100000" in str(error)
    assert open_image(encode(Image.new("RGB", (2000, 100))), **CAPS, max_aspect_ratio=20).size == (2000, 100)


def test_target_size_shrinks_sixteen_bit_images_to_upright_rgb():
    grey = raw_png(6300, 6300, 16, 0, b"\x80\x00" * 6300)  # mid grey, 16 bits
    image = open_image(grey, **CAPS, target_size=512)
    assert image.mode == "RGB"
    assert 512 <= min(image.size) < 1024
    assert np.allclose(np.asarray(image), 128, atol=1)


def test_target_size_drafts_jpegs_while_decoding():
    jpeg = encode(Image.new("RGB", (4096, 3072), (10, 200, 30)), "JPEG", quality=90)
    image = open_image(jpeg, **CAPS, target_size=512)
    assert image.size == (1024, 768)  # libjpeg's 1/4 scale: the smallest keeping both sides >= 512
    assert np.allclose(image.getpixel((500, 300)), (10, 200, 30), atol=4)


def test_orientation_survives_shrinking():
    original = Image.new("RGB", (4000, 2000), "blue")
    original.paste((255, 0, 0), (0, 0, 2000, 2000))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6
    for fmt in ("PNG", "JPEG"):
        stored = encode(original.transpose(Image.Transpose.ROTATE_90), fmt, exif=exif.tobytes())
        upright = open_image(stored, **CAPS, target_size=256)
        assert upright.width > upright.height
        assert np.allclose(upright.getpixel((upright.width // 8, upright.height // 2)), (255, 0, 0), atol=12)
        assert np.allclose(
            upright.getpixel((upright.width * 7 // 8, upright.height // 2)), (0, 0, 255), atol=12
        )


def test_small_images_are_not_enlarged():
    assert open_image(encode(Image.new("RGB", (1, 1), "red")), **CAPS, target_size=512).size == (1, 1)


def test_progressive_jpegs_are_costed_by_their_coefficients():
    progressive = encode(Image.new("RGB", (6000, 6000), "red"), "JPEG", progressive=True, subsampling=0)
    error = refused(progressive, target_size=512)
    assert (error.code, error.status) == ("too_costly_to_decode", 422)
    assert "MiB" in str(error)
    # 4:2:0, as phones write them, needs half as much and fits.
    ordinary = encode(Image.new("RGB", (6000, 6000), "red"), "JPEG", progressive=True, subsampling=2)
    assert open_image(ordinary, **CAPS, target_size=512).size == (750, 750)


def test_budget_bounds_concurrent_decodes():
    budget, in_use, peak, lock = _DecodeBudget(), [0], [0], threading.Lock()

    def decode(cost):
        with budget.reserve(cost, 100):
            with lock:
                in_use[0] += cost
                peak[0] = max(peak[0], in_use[0])
            time.sleep(0.05)
            with lock:
                in_use[0] -= cost

    threads = [threading.Thread(target=decode, args=(cost,)) for cost in (60, 60, 30, 30, 90, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 90 <= peak[0] <= 100
    with pytest.raises(InvalidImage) as info:
        with budget.reserve(101, 100):
            pass
    assert info.value.code == "too_costly_to_decode"


def test_a_full_budget_makes_a_decode_wait_then_answer_busy(monkeypatch):
    import visual_search.images as images  # noqa: PLC0415

    monkeypatch.setattr(images, "BUDGET_WAIT_SECONDS", 0.2)
    budget, holding, release = _DecodeBudget(), threading.Event(), threading.Event()

    def hold():
        with budget.reserve(80, 100):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    started = time.monotonic()
    with pytest.raises(InvalidImage) as info:
        with budget.reserve(30, 100):
            pass
    assert (info.value.code, info.value.status) == ("busy", 503)
    assert 0.15 < time.monotonic() - started < 2
    with budget.reserve(20, 100):  # what fits beside the holder goes ahead at once
        pass
    release.set()
    holder.join()
    with budget.reserve(100, 100):  # and the whole budget is free again
        pass
