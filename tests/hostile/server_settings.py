"""Settings for the gunicorn that tests/hostile starts: the test settings, with the API open and no throttles.

These tests are about memory and slow clients, not rates (test_throttling.py covers those).
"""

from tests.settings import *  # noqa: F403

VISUAL_SEARCH = {
    **VISUAL_SEARCH,  # noqa: F405
    "API_ALLOW_ANONYMOUS": True,
    "API_THROTTLE_RATES": {},
    "PAGE_THROTTLE_RATES": {},
}
