from django.apps import apps
from django.urls import path

from visual_search.indexing.health import health_view
from visual_search.web import views

app_name = "visual_search"

urlpatterns = [
    path("", views.SearchByPhotoView.as_view(), name="search"),
    path("health/", health_view, name="health"),
]

if apps.is_installed("visual_search.analytics"):
    from visual_search.analytics.views import click  # noqa: PLC0415 - its models exist only when installed

    urlpatterns.append(path("click/<str:token>/", click, name="click"))
