from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The demo catalogue whose products visual_search embeds."""

    name = "shop"
    label = "shop"
    verbose_name = "Shop"
    default_auto_field = "django.db.models.BigAutoField"
