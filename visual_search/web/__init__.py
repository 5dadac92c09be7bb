"""HTML faces of the app: the search page, the admin (jobs, progress, duplicates, suggestions)."""
