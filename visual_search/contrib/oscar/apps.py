from django.apps import AppConfig


class VisualSearchOscarConfig(AppConfig):
    """Templates, admin integration and child-product receivers for an Oscar host."""

    name = "visual_search.contrib.oscar"
    label = "visual_search_oscar"
    verbose_name = "Visual search for Oscar"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from visual_search.contrib.oscar import signal_handlers  # noqa: PLC0415

        signal_handlers.connect()
