"""What indexing tells the rest of the app; receivers live where the work is (``quality/tasks.py`` calibrates)."""

from django.dispatch import Signal

#: Bulk jobs settled their last product. ``encoders``: the ids of the encoders whose vectors they wrote.
bulk_jobs_finished = Signal()

#: Searches now answer from ``encoder`` (an Encoder), after ``encoder_switch.switch_to``.
encoder_switched = Signal()
