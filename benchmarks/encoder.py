"""Encoder throughput: our EfficientNet-Lite0 encoder against the naive Keras code a user would write.

Three sides: ours as it runs by default (the Keras network converted to a float32
TF Lite model, cached on disk, run by LiteRT), ours with ``runtime="keras"``
(the Keras graph as a ``tf.function``), and the baseline (a Keras application
through ``model.predict``). Each side runs in its own fresh process (one after
the other, never in parallel), so first-call latency includes the imports and
peak RSS belongs to that side alone. All start from decoded PIL images and
include their own resizing and input scaling in the timings. The TF Lite side
reads the converted model from the cache (run the tests, or this script, once).

    .venv/bin/python benchmarks/encoder.py --output /tmp/encoder.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

from visual_search.images import open_image  # noqa: E402

BATCH_SIZES = (1, 8, 32)
CAPS = {"max_bytes": 50_000_000, "max_pixels": 100_000_000, "allowed_formats": ["JPEG", "PNG", "WEBP"]}


def load_images(folder: Path, count: int) -> tuple[list[Image.Image], str]:
    """Decode ``count`` images spread over ``folder``; fall back to scikit-image's photos."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if files:
        step = max(1, len(files) // count)
        chosen = files[::step][:count]
        return [open_image(p.read_bytes(), **CAPS) for p in chosen], f"{len(chosen)} photos from {folder}"
    from skimage import data  # noqa: PLC0415

    photos = [Image.fromarray(getattr(data, n)()) for n in ("chelsea", "coffee", "astronaut", "rocket")]
    return [photos[i % len(photos)] for i in range(count)], f"{count} scikit-image photos (no {folder})"


def rate(function, images: list[Image.Image], batch: int, min_seconds: float) -> float:
    """Steady-state images/s of ``function(batch_of_images)`` after one warm-up call."""
    function(images[:batch])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        for i in range(0, len(images) - batch + 1, batch):
            function(images[i : i + batch])
            done += batch
    return done / (time.perf_counter() - start)


def measure_ours(images: list[Image.Image], min_seconds: float, runtime: str) -> dict:
    start = time.perf_counter()
    from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder  # noqa: PLC0415

    if runtime == "keras":
        import tensorflow  # noqa: F401, PLC0415

    imported = time.perf_counter()
    encoder = EfficientNetLiteEncoder(variant="lite0", runtime=runtime)
    encoder.embed(images[:1], batch_size=1)
    first = time.perf_counter()
    rates = {b: rate(lambda x, b=b: encoder.embed(x, batch_size=b), images, b, min_seconds) for b in BATCH_SIZES}
    return {"import_s": imported - start, "first_call_s": first - imported, "rates": rates,
            "tensorflow": "tensorflow" in sys.modules}


def measure_baseline(images: list[Image.Image], min_seconds: float) -> dict:
    start = time.perf_counter()
    import keras  # noqa: PLC0415
    from keras.applications.mobilenet_v2 import preprocess_input  # noqa: PLC0415

    imported = time.perf_counter()
    # No hub access here, so weights=None: speed does not depend on the weights' values.
    model = keras.applications.MobileNetV2(include_top=False, pooling="avg", weights=None, input_shape=(224, 224, 3))

    def naive(batch: list[Image.Image]) -> np.ndarray:
        pixels = np.stack([np.asarray(im.convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)) for im in batch])
        return model.predict(preprocess_input(pixels.astype(np.float32)), verbose=0)

    naive(images[:1])
    first = time.perf_counter()
    rates = {1: rate(naive, images, 1, min_seconds), 32: rate(naive, images, 32, min_seconds)}
    return {"import_s": imported - start, "first_call_s": first - imported, "rates": rates, "tensorflow": True}


def worker(side: str, args: argparse.Namespace) -> None:
    images, source = load_images(args.images, args.count)
    if side == "baseline":
        result = measure_baseline(images, args.min_seconds)
    else:
        result = measure_ours(images, args.min_seconds, runtime="tflite" if side == "ours" else "keras")
    # ru_maxrss is in KiB on Linux.
    result.update(peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, source=source)
    print(json.dumps(result))


def run_side(side: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--worker", side, "--images", str(args.images), "--count", str(args.count),
               "--min-seconds", str(args.min_seconds)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["rates"] = {int(k): v for k, v in result["rates"].items()}
    return result


def report(sides: list[dict], args: argparse.Namespace) -> str:
    def ips(side: dict, batch: int) -> str:
        return f"{side['rates'][batch]:.1f}" if batch in side["rates"] else "n/a"

    ours, keras, base = sides
    rows = [
        ("imports (s)", *(f"{s['import_s']:.2f}" for s in sides)),
        ("first call: build or load + first image (s)", *(f"{s['first_call_s']:.2f}" for s in sides)),
        ("TensorFlow imported", *("yes" if s["tensorflow"] else "no" for s in sides)),
        *[(f"images/s, batch {b}", *(ips(s, b) for s in sides)) for b in BATCH_SIZES],
        ("peak RSS (MiB)", *(f"{s['peak_rss_mib']:.0f}" for s in sides)),
    ]
    lines = [
        "| | ours: EfficientNet-Lite0, `encoder.embed()` (TF Lite runtime, default) | ours, `runtime=\"keras\"` "
        "(tf.function) | baseline: MobileNetV2, `model.predict` |",
        "|---|---:|---:|---:|",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
        f"Speed-up at batch 1 (ours vs. one `predict` per image): {ours['rates'][1] / base['rates'][1]:.1f}x; "
        f"at batch 32 (ours vs. `predict` on 32): {ours['rates'][32] / base['rates'][32]:.1f}x. "
        f"TF Lite against the Keras graph it was converted from: {ours['rates'][1] / keras['rates'][1]:.1f}x "
        f"at batch 1, {ours['rates'][32] / keras['rates'][32]:.1f}x at batch 32.",
        "",
        f"Images: {ours['source']}. Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}. Each side ran in a fresh process for at least "
        f"{args.min_seconds:.0f} s per batch size after one warm-up call.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "datasets" / "clothing-small")
    parser.add_argument("--count", type=int, default=128, help="images to decode and cycle through")
    parser.add_argument("--min-seconds", type=float, default=10.0, help="timing window per batch size")
    parser.add_argument("--output", type=Path, help="also write the markdown table here")
    parser.add_argument("--worker", choices=["ours", "keras", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    table = report([run_side(side, args) for side in ("ours", "keras", "baseline")], args)
    print(table)
    if args.output:
        args.output.write_text(table + "\n")


if __name__ == "__main__":
    main()
