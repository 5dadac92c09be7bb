"""Settings for benchmarks/search_latency.py: the demo project serving the app's default encoder.

Its 100,000-product catalogue is made of plain EfficientNet-Lite0 vectors, so searches
(in the script and in its gunicorn) must answer from that encoder, not from the demo's
adapted one.
"""

from config.settings import *  # noqa: F403

VISUAL_SEARCH = {key: value for key, value in VISUAL_SEARCH.items() if key != "ENCODER"}  # noqa: F405
