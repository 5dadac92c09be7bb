"""Settings for benchmarks/bulk.py: the demo project on the benchmark's own database, queue and photos."""

import os

from config.settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["VISUAL_SEARCH_BENCH_DB"]  # noqa: F405
MEDIA_ROOT = os.environ["VISUAL_SEARCH_BENCH_MEDIA"]  # the dataset folder itself: nothing is copied
CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
CELERY_TASK_DEFAULT_QUEUE = os.environ["VISUAL_SEARCH_BENCH_QUEUE"]
# The app's default encoder (plain EfficientNet-Lite0), as in bulk.py's own process.
VISUAL_SEARCH = {  # noqa: F405
    **{k: v for k, v in VISUAL_SEARCH.items() if k != "ENCODER"}, "AUTO_EMBED": False,  # noqa: F405
    "CALIBRATE_AUTOMATICALLY": False,  # not part of the re-embed
    "BULK_DEFER_INDEX_MIN": 1 if os.environ.get("BENCH_DEFER_INDEX") else None,  # bulk.py --defer-index
}
if os.environ.get("VISUAL_SEARCH_BENCH_INFERENCE_BATCH"):  # bulk.py --inference-batch-size
    VISUAL_SEARCH["INFERENCE_BATCH_SIZE"] = int(os.environ["VISUAL_SEARCH_BENCH_INFERENCE_BATCH"])
if os.environ.get("BENCH_ENCODER_RUNTIME"):  # bulk.py --runtime
    from benchmarks.bulk import runtime_encoder  # noqa: E402

    VISUAL_SEARCH["ENCODER"] = runtime_encoder(os.environ["BENCH_ENCODER_RUNTIME"])
