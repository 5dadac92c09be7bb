"""Measuring and improving results: evaluation, training a head, category suggestion, duplicates."""
