"""The API's URLs, its OpenAPI schema and its docs page: ``path("api/v1/", include("visual_search.api.urls"))``."""

from django.urls import path

from visual_search.api import docs, interactions, suggest, views

app_name = "visual_search_api"

urlpatterns = [
    path("products/<str:pk>/similar/", views.SimilarProductsView.as_view(), name="similar-products"),
    path("search/image/", views.SearchByImageView.as_view(), name="search-by-image"),
    path("products/<str:pk>/category-suggestion/", suggest.CategorySuggestionView.as_view(), name="category-suggestion"),
    path("interactions/", interactions.InteractionView.as_view(), name="interactions"),
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.DocsView.as_view(url_name="visual_search_api:schema"), name="docs"),
]
