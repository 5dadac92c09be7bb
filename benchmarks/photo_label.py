"""What naming a photo with no close match adds to its search: the encoder's ImageNet layer on its features.

Usage: ``.venv/bin/python benchmarks/photo_label.py [--runs 2000]``

The default encoder (EfficientNet-Lite0, TF Lite runtime) embeds scikit-image's sample
photos once with ``embed_with_features()``, as a search does; then ``describe()`` names
each photo ``--runs`` times. Reported: CPU time (this process, every thread) and wall time
per name, the once-per-process read of the layer, and one photo's embedding for scale.
CPU time is the figure to quote on a shared machine: other load stretches wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from a checkout

PHOTOS = ("coffee", "chelsea", "rocket", "astronaut")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()

    from django.conf import settings  # noqa: PLC0415

    settings.configure()  # the encoder reads VISUAL_SEARCH's defaults; no database
    from PIL import Image  # noqa: PLC0415
    from skimage import data  # noqa: PLC0415

    from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder  # noqa: PLC0415

    encoder = EfficientNetLiteEncoder()
    images = [Image.fromarray(getattr(data, name)()) for name in PHOTOS]
    encoder.embed(images[:1])  # model loaded and warm
    cpu, wall = time.process_time(), time.perf_counter()
    encoder.imagenet_classifier()
    print(f"reading the ImageNet layer (once per process): {(time.process_time() - cpu) * 1e3:.1f} ms CPU, "
          f"{(time.perf_counter() - wall) * 1e3:.1f} ms wall")

    embed_cpu = []
    for _ in range(30):
        cpu = time.process_time()
        encoder.embed_with_features(images[:1])
        embed_cpu.append(time.process_time() - cpu)
    print(f"embedding one photo (for scale): median {statistics.median(embed_cpu) * 1e3:.1f} ms CPU of 30")

    for name, image in zip(PHOTOS, images, strict=True):
        _, features = encoder.embed_with_features([image])
        for _ in range(50):
            encoder.describe(features)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.runs):
            [[label]] = encoder.describe(features)
        cpu, wall = (time.process_time() - cpu) / args.runs, (time.perf_counter() - wall) / args.runs
        print(f"{name:>10} -> {label.name} ({label.probability:.2f}): {cpu * 1e3:.3f} ms CPU, "
              f"{wall * 1e3:.3f} ms wall per name ({args.runs} runs)")


if __name__ == "__main__":
    main()
