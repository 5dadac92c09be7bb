"""Search analytics, an optional sub-app: what shoppers searched, what they clicked and bought.

Add ``"visual_search.analytics"`` to ``INSTALLED_APPS`` (after ``"visual_search"``) and
migrate. Then every search (page, API, carousel impression) is recorded
(``log.record_search``), result links carry a signed token that a click turns into
an ``Interaction`` (``interactions.record_click``), a host reports basket adds and
purchases with ``interactions.record_conversion`` (django-oscar: wired by
``visual_search.contrib.oscar``), the admin shows charts
(``admin.SearchEventAdmin``), and ``manage.py visual_search_analytics`` exports
clicks as an evaluation manifest and purges what is older than
``VISUAL_SEARCH["ANALYTICS_RETENTION_DAYS"]``.
"""
