"""Tests of visual_search.contrib run under their host framework's settings only.

``pytest`` with the demo settings (pytest.ini) skips them; ``make test`` runs
``pytest tests/contrib/oscar --ds tests.contrib.oscar.settings`` after the main suite.
"""

import os

collect_ignore = []
if os.environ.get("DJANGO_SETTINGS_MODULE") != "tests.contrib.oscar.settings":
    collect_ignore.append("oscar")
