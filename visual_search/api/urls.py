"""The API's URLs, its OpenAPI schema and its docs page: ``path("api/v1/", include("visual_search.api.urls"))``."""

from django.urls import path, re_path

from visual_search.api import docs, interactions, not_found, products, suggest, views

app_name = "visual_search_api"

urlpatterns = [
    path("products/", products.ProductListView.as_view(), name="products"),
    path("products/<str:pk>/similar/", views.SimilarProductsView.as_view(), name="similar-products"),
    path("search/image/", views.SearchByImageView.as_view(), name="search-by-image"),
    path("search/", views.TextSearchView.as_view(), name="search-by-text"),
    path("products/<str:pk>/category-suggestion/", suggest.CategorySuggestionView.as_view(), name="category-suggestion"),
    path("interactions/", interactions.InteractionView.as_view(), name="interactions"),
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.DocsView.as_view(url_name="visual_search_api:schema"), name="docs"),
    # Last: every other path under the API is a JSON 404, not the host site's HTML one.
    re_path(r"^", not_found.NotFoundView.as_view(), name="not-found"),
]
