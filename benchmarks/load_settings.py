"""Settings for benchmarks/load.py's gunicorn: the demo project with its throttles off and the API open.

The load test measures capacity; throttles would turn most requests into 429s.
"""

from config.settings import *  # noqa: F403

VISUAL_SEARCH = {
    **VISUAL_SEARCH,  # noqa: F405
    "AUTO_EMBED": False,  # the catalogue is embedded in one pass with visual_search_reembed --sync
    "API_ALLOW_ANONYMOUS": True,
    "API_THROTTLE_RATES": {},
    "PAGE_THROTTLE_RATES": {},
}
