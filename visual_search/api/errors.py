"""Every API error as JSON ``{"code": ..., "detail": ...}``: the app's views, unknown paths and crashes alike.

(With ``DEBUG`` on, a crash shows Django's traceback page instead.)

One shape: ``code`` (stable) and ``detail`` (words for people), plus ``errors``
(per field, code ``invalid``) or ``valid_values`` (code ``unknown_filter_value``)
where they apply.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.signals import got_request_exception
from django.http import Http404, UnreadablePostError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from visual_search.api.authentication import ACCEPTED_HEADERS

logger = logging.getLogger("visual_search.api")


class APIError(exceptions.APIException):
    """An error with a stable ``code`` by the view (bad filter, bad image...); ``extra`` joins its body."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(
        self, code: str, detail: str, status_code: int | None = None, *, wait: int | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(detail, code)
        if status_code is not None:
            self.status_code = status_code
        self.wait = wait  # DRF's handler turns it into a Retry-After header
        self.extra = extra or {}


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def exception_handler(exc, context):
    """DRF's handler, then the body reshaped to ``code`` + ``detail``; anything else a JSON 500."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if exc.args else None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if exc.args else None)
    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, UnreadablePostError) or settings.DEBUG:
            # The upload guard answers a body that stopped arriving (408); DEBUG shows the traceback page.
            return None
        # A bug, not the caller's fault: reported as Django reports a 500 (the signal error trackers
        # listen to, the log with its traceback), answered in JSON.
        request = context.get("request")
        got_request_exception.send(sender=None, request=getattr(request, "_request", request))
        logger.error("Internal Server Error: %s", getattr(request, "path", "the API"), exc_info=exc)
        return Response({"code": "server_error", "detail": "Internal server error."},
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"code": "invalid", "detail": _first_message(exc.detail), "errors": exc.detail}
        return response
    code = getattr(exc.detail, "code", None) or exc.default_code
    detail = str(exc.detail)
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        detail = f"{detail} Send {ACCEPTED_HEADERS}."
    response.data = {"code": str(code), "detail": detail, **getattr(exc, "extra", {})}
    return response
