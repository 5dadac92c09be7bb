"""visual_search for django-oscar shops: an adapter for ``catalogue.Product``, admin and templates.

Add ``"visual_search.contrib.oscar"`` to INSTALLED_APPS above Oscar's apps and
see docs/oscar.md.
"""
