from django.urls import path

from visual_search.api import views

app_name = "visual_search_api"

urlpatterns = [
    path("products/<str:pk>/similar/", views.SimilarProductsView.as_view(), name="similar-products"),
    path("search/image/", views.SearchByImageView.as_view(), name="search-by-image"),
]
