"""INT8 TF Lite encoder against the float encoder, in one run: speed, agreement, quality, memory.

Each option embeds the same decoded photos at batch 32 in its own fresh process
(so its peak RSS is its own), alternating float / int8 for ``--rounds`` rounds;
then ``visual_search.quality.evaluation.evaluate`` scores both on the dataset and the
cached vectors give the cosine between them. The INT8 model is calibrated on
the catalogue photos (train), never on the test queries.

    .venv/bin/python benchmarks/quantised.py --output /tmp/quantised.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "clothing-small"
FLOAT = "visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder"
INT8 = "visual_search.encoders.quantised.QuantisedEfficientNetLiteEncoder"


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import django  # noqa: PLC0415

    django.setup()


def specs(dataset: Path, model_dir: Path) -> dict[str, str]:
    options = {"model_dir": str(model_dir), "calibration_images": str(dataset / "train")}
    return {"float": f'{FLOAT}:{{"variant": "lite0"}}', "int8": f"{INT8}:{json.dumps(options)}"}


def child(option: str, dataset: Path, model_dir: Path, images: int, seconds: float) -> None:
    """Time one option in this process and print one JSON line."""
    setup()
    from PIL import Image  # noqa: PLC0415

    from visual_search.quality.evaluation.run import resolve_encoder  # noqa: PLC0415

    _, encoder = resolve_encoder(specs(dataset, model_dir)[option])
    paths = sorted((dataset / "test").rglob("*.jpg"))[:images]
    if not paths:
        raise SystemExit(f"No photos under {dataset / 'test'}: pass --dataset (train/validation/test folders).")
    photos = [Image.open(p).convert("RGB") for p in paths]
    start = time.perf_counter()
    encoder.embed(photos[:32], batch_size=32)  # load (and convert once, if not cached) and warm up
    first_s = time.perf_counter() - start
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        encoder.embed(photos, batch_size=32)
        done += len(photos)
    rate = done / (time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"option": option, "images_per_s": rate, "first_call_s": first_s, "peak_rss_mib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--model-dir", type=Path, default=ROOT / ".data" / "tflite")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".data" / "eval-cache")
    parser.add_argument("--images", type=int, default=128, help="photos per timed pass")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per option and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=["float", "int8"], help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if not (args.dataset / "train").is_dir() or not (args.dataset / "test").is_dir():
        raise SystemExit(f"{args.dataset} has no train/ and test/ folders: pass --dataset.")
    if args.child:
        child(args.child, args.dataset, args.model_dir, args.images, args.seconds)
        return

    timings: dict[str, list[dict]] = {"float": [], "int8": []}
    for _ in range(args.rounds):
        for option in ("int8", "float"):  # int8 first: its first run also converts the model
            command = [sys.executable, __file__, "--child", option, "--dataset", str(args.dataset),
                       "--model-dir", str(args.model_dir), "--images", str(args.images), "--seconds", str(args.seconds)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            timings[option].append(json.loads(out.strip().splitlines()[-1]))
            print(timings[option][-1], flush=True)

    setup()
    from visual_search.quality.evaluation import evaluate  # noqa: PLC0415
    from visual_search.quality.evaluation.cache import embed_paths  # noqa: PLC0415
    from visual_search.quality.evaluation.run import resolve_encoder  # noqa: PLC0415

    result = evaluate(args.dataset, encoders=list(specs(args.dataset, args.model_dir).values()),
                      cache_dir=args.cache_dir, progress=print)
    recall = {run.encoder.id: run.metrics for run in result.runs}
    paths = [s.path for s in result.dataset.catalogue + result.dataset.queries]
    vectors = {}
    for option, spec in specs(args.dataset, args.model_dir).items():
        vectors[option] = embed_paths(resolve_encoder(spec)[1], paths, args.cache_dir).vectors
    cosine = (vectors["float"] * vectors["int8"]).sum(axis=1)

    def median(option: str, key: str) -> float:
        return float(np.median([t[key] for t in timings[option]]))

    ids = {run.encoder.id: run for run in result.runs}
    float_id, int8_id = sorted(ids, key=lambda i: "int8" in i)
    speedup = median("int8", "images_per_s") / median("float", "images_per_s")
    r1_drop = 100 * (recall[float_id]["recall@1"] - recall[int8_id]["recall@1"])
    passes = {"speed >= 1.5x": speedup >= 1.5, "mean cosine >= 0.99": cosine.mean() >= 0.99,
              "R@1 at most 1 point below float": r1_drop <= 1.0}
    rows = [
        ("images/s, batch 32 (median of rounds)", "images_per_s", "{:.1f}"),
        ("first call: load (+ convert) + 32 photos (s)", "first_call_s", "{:.2f}"),
        ("peak RSS of the process (MiB)", "peak_rss_mib", "{:.0f}"),
    ]
    lines = [f"| | float (`{float_id}`) | INT8 TF Lite (`{int8_id}`) |", "|---|---:|---:|"]
    for title, key, fmt in rows:
        lines.append(f"| {title} | {fmt.format(median('float', key))} | {fmt.format(median('int8', key))} |")
    for metric in ("recall@1", "recall@5", "precision@10"):
        lines.append(f"| {metric} on {args.dataset.name} | {100 * recall[float_id][metric]:.1f} "
                     f"| {100 * recall[int8_id][metric]:.1f} |")
    lines += [
        "",
        (
            f"Speed-up {speedup:.2f}x; cosine to the float vectors over {len(cosine)} photos: mean {cosine.mean():.4f}, "
            f"1st percentile {np.percentile(cosine, 1):.4f}, min {cosine.min():.4f}; R@1 change {-r1_drop:+.1f} points. "
            f"Rounds: float {[round(t['images_per_s'], 1) for t in timings['float']]}, "
            f"int8 {[round(t['images_per_s'], 1) for t in timings['int8']]} images/s. "
            f"Load average {os.getloadavg()[0]:.1f} at the end."
        ),
        "",
        "Default criteria: " + ", ".join(f"{name}: {'yes' if ok else 'no'}" for name, ok in passes.items())
        + f" -> {'meets all three' if all(passes.values()) else 'stays an option, not the default'}.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
