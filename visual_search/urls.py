from django.urls import path

from visual_search import views
from visual_search.health import health_view

app_name = "visual_search"

urlpatterns = [
    path("", views.SearchByPhotoView.as_view(), name="search"),
    path("health/", health_view, name="health"),
]
