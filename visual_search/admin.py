"""Django's admin autodiscovery imports this module; the admin itself lives in ``visual_search.web.admin``.

Mixins for a host's own product admin: ``visual_search.web.duplicates_admin``
and ``visual_search.web.suggestion_admin``.
"""

from visual_search.web import admin, calibration_admin  # noqa: F401 - registers the app's ModelAdmins
