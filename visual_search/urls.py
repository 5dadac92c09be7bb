from django.urls import path

from visual_search import views

app_name = "visual_search"

urlpatterns = [
    path("", views.SearchByPhotoView.as_view(), name="search"),
]
