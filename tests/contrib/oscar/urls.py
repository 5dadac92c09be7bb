"""URLs of the Oscar test host: Oscar's shop and dashboard, the admin, visual_search's page and API."""

from django.apps import apps
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("visual-search/", include("visual_search.urls")),
    path("api/v1/", include("visual_search.api.urls")),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
