from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Search log, clicks and conversions, and the admin's analytics page."""

    name = "visual_search.analytics"
    label = "visual_search_analytics"
    verbose_name = "Visual search analytics"
    default_auto_field = "django.db.models.BigAutoField"
