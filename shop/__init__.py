"""Demo catalogue for django-visual-search: categories, products and their photos."""
