"""Settings for benchmarks/search_latency.py: the demo project serving the app's default encoder.

Its 100,000-product catalogue is made of plain EfficientNet-Lite0 vectors, so searches
(in the script and in its gunicorn) must answer from that encoder, not from the demo's
adapted one. ``BENCH_ENCODER_RUNTIME`` (``tflite`` or ``keras``) picks how it runs, so the
script can compare both runtimes in one run.
"""

import os


from config.settings import *  # noqa: F403

VISUAL_SEARCH = {key: value for key, value in VISUAL_SEARCH.items() if key != "ENCODER"}  # noqa: F405

if os.environ.get("BENCH_ENCODER_RUNTIME"):
    VISUAL_SEARCH["ENCODER"] = {
        "BACKEND": "visual_search.encoders.efficientnet_lite.EfficientNetLiteEncoder",
        "OPTIONS": {"variant": "lite0", "pooling": "avg", "runtime": os.environ["BENCH_ENCODER_RUNTIME"]},
    }
