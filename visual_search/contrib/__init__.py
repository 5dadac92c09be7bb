"""Integrations of visual_search with third-party shop frameworks, one sub-package each."""
