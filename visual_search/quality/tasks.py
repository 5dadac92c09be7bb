"""Calibration as a Celery task, sent when a bulk job finishes and when searches switch encoder."""

from __future__ import annotations

from celery import shared_task
from django.dispatch import receiver

from visual_search.conf import vs_settings
from visual_search.indexing.signals import bulk_jobs_finished, encoder_switched
from visual_search.indexing.tasks import publish


@shared_task(name="visual_search.calibrate", ignore_result=True)
def calibrate(encoder_id: str | None = None) -> None:
    """Refit the calibrated confidence of ``encoder_id`` (default: the serving encoder) on the catalogue."""
    from visual_search.quality.calibration import calibrate_quietly  # noqa: PLC0415 - numpy work, loaded on use

    calibrate_quietly(encoder_id)


def send_calibrate(encoder_id: str | None = None) -> bool:
    """Send a calibration task (to the bulk queue when set) unless ``CALIBRATE_AUTOMATICALLY`` is off; never raises."""
    if not vs_settings.CALIBRATE_AUTOMATICALLY:
        return False
    return publish(calibrate, (encoder_id,), queue=vs_settings.TASK_QUEUE_BULK or None)


@receiver(bulk_jobs_finished, dispatch_uid="visual_search.calibrate_after_bulk")
def calibrate_after_bulk(sender, encoders: list[str], **kwargs) -> None:
    # Once a job's last rows are settled, its encoder's vectors are what calibration reads.
    for encoder_id in encoders:
        send_calibrate(encoder_id)


@receiver(encoder_switched, dispatch_uid="visual_search.calibrate_after_switch")
def calibrate_after_switch(sender, encoder, **kwargs) -> None:
    send_calibrate(encoder.id)
