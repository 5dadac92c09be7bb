"""Every API error as JSON ``{"code": ..., "detail": ...}``, applied on the app's own views only."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class APIError(exceptions.APIException):
    """An error with a stable ``code`` chosen by the view (bad filter, bad image...)."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, detail: str, status_code: int | None = None, *, wait: int | None = None) -> None:
        super().__init__(detail, code)
        if status_code is not None:
            self.status_code = status_code
        self.wait = wait  # DRF's handler turns it into a Retry-After header


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def exception_handler(exc, context):
    """DRF's handler, then the body reshaped to ``code`` + ``detail`` (+ ``errors`` per field)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if exc.args else None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if exc.args else None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"code": "invalid", "detail": _first_message(exc.detail), "errors": exc.detail}
    else:
        code = getattr(exc.detail, "code", None) or exc.default_code
        response.data = {"code": str(code), "detail": str(exc.detail)}
    return response
