from django.urls import path

from visual_search.indexing.health import health_view
from visual_search.web import views

app_name = "visual_search"

urlpatterns = [
    path("", views.SearchByPhotoView.as_view(), name="search"),
    path("health/", health_view, name="health"),
]
