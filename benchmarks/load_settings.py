"""Settings for benchmarks/load.py's gunicorn: the demo project with its throttles off and the API open.

The load test measures capacity; throttles would turn most requests into 429s.
``BENCH_ENCODER_RUNTIME`` (load.py ``--runtime``) runs the demo encoder's base as ``tflite``
(its default) or ``keras``: the same vectors either way.
"""

import os

from config.settings import *  # noqa: F403

VISUAL_SEARCH = {
    **VISUAL_SEARCH,  # noqa: F405
    "AUTO_EMBED": False,  # the catalogue is embedded in one pass with visual_search_reembed --sync
    "API_ALLOW_ANONYMOUS": True,
    "API_THROTTLE_RATES": {},
    "PAGE_THROTTLE_RATES": {},
}

if os.environ.get("BENCH_ENCODER_RUNTIME"):
    VISUAL_SEARCH["ENCODER"] = {  # noqa: F405
        **VISUAL_SEARCH["ENCODER"],  # noqa: F405
        "OPTIONS": {
            **VISUAL_SEARCH["ENCODER"]["OPTIONS"],  # noqa: F405
            "base_options": {"runtime": os.environ["BENCH_ENCODER_RUNTIME"]},
        },
    }
