from django.apps import AppConfig
from django.db.models.signals import post_migrate


class VisualSearchConfig(AppConfig):
    """Image embeddings and visual search for a host's product model."""

    name = "visual_search"
    label = "visual_search"
    verbose_name = "Visual search"
    # Pinned so a host's DEFAULT_AUTO_FIELD never creates migrations inside this app.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from visual_search import checks  # noqa: F401,PLC0415 - registers checks
        from visual_search.indexing import signal_handlers  # noqa: F401,PLC0415 - registers checks
        from visual_search.quality import tasks  # noqa: F401,PLC0415 - calibrates after bulk jobs and switches

        signal_handlers.connect()
        post_migrate.connect(signal_handlers.create_vector_index, sender=self,
                             dispatch_uid="visual_search.create_vector_index")
