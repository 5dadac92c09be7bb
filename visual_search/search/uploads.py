"""Uploads to the app's views, guarded before their bodies are read.

``UploadGuardMiddleware`` acts on POSTs to views of the ``visual_search`` (page)
and ``visual_search_api`` URL namespaces, and on nothing else:

- a body declared larger than the image byte cap plus a small multipart
  allowance is answered 413 ``too_large`` at once, unread;
- the page's throttles (``visual_search.search.throttling``) are counted before the
  body is read; the API counts its own in DRF, after key authentication;
- the upload is held in memory by ``CappedMemoryUploadHandler``, never spooled
  to a temporary file, and never more than the cap plus one byte of it, so the
  image gate (``visual_search.images``) can still say ``too_large``.

Add it to ``MIDDLEWARE`` after ``AuthenticationMiddleware``. It runs before any
view or ``process_view`` (CSRF reads the body there), so the body is untouched
when it decides.
"""

from __future__ import annotations

import io
import math

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpResponse, JsonResponse, UnreadablePostError
from django.urls import Resolver404, get_resolver
from django.utils.html import format_html

from visual_search.conf import vs_settings
from visual_search.images import STATUS_BY_CODE
from visual_search.search.throttling import page_throttle_wait

__all__ = ["CappedMemoryUploadHandler", "UploadGuardMiddleware", "body_limit"]

PAGE_APP = "visual_search"
API_APP = "visual_search_api"

#: Room around the one file for multipart boundaries, part headers and small fields such as ``k``.
MULTIPART_ALLOWANCE = 64 * 1024


def body_limit() -> int:
    """Largest request body an upload view reads: the image byte cap plus the multipart allowance."""
    return int(vs_settings.MAX_IMAGE_BYTES) + MULTIPART_ALLOWANCE


class CappedMemoryUploadHandler(FileUploadHandler):
    """Keep each uploaded file in memory, at most the byte cap plus one byte; never write it to disk.

    The file's reported ``size`` is what arrived, so size checks still see the truth.
    """

    def __init__(self, request=None, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = int(vs_settings.MAX_IMAGE_BYTES) if max_bytes is None else max_bytes

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.file = io.BytesIO()
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        room = self.max_bytes + 1 - self.file.tell()
        if room > 0:
            self.file.write(raw_data[:room])
        self.received += len(raw_data)
        return None  # consumed here: no later handler spools it

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.file.seek(0)
        return InMemoryUploadedFile(
            file=self.file,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self.received,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


class UploadGuardMiddleware:
    """Size cap, page throttles and in-memory uploads for the app's upload views (see module docstring)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        app = _upload_app(request) if request.method in ("POST", "PUT", "PATCH") else None
        if app:
            refusal = self._refusal(request, app)
            if refusal is not None:
                return refusal
            request.upload_handlers = [CappedMemoryUploadHandler(request)]
        return self.get_response(request)

    def process_exception(self, request, exception):
        # The body stopped arriving (the server's body deadline, or the client went away) while a
        # view read it: a 408 instead of a 500.
        app = _upload_app(request) if isinstance(exception, UnreadablePostError) else None
        if app:
            return refuse(request, app, 408, "body_timeout", "The upload did not arrive in time.")
        return None

    def _refusal(self, request, app: str):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refuse(request, app, 400, "bad_request", "The Content-Length header is not a number.")
        limit = body_limit()
        if length > limit:
            return refuse(
                request,
                app,
                STATUS_BY_CODE["too_large"],
                "too_large",
                f"The upload is {length:,} bytes; images may be at most "
                f"{vs_settings.MAX_IMAGE_BYTES:,} bytes.",
            )
        if app == PAGE_APP:
            wait = page_throttle_wait(request)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                response = refuse(
                    request, app, 429, "throttled", f"Too many searches; try again in {seconds} seconds."
                )
                response["Retry-After"] = str(seconds)
                return response
        return None


def _upload_app(request) -> str | None:
    """``visual_search`` or ``visual_search_api`` when the request is for one of the app's views."""
    try:
        match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
    except Resolver404:
        return None
    for app in (API_APP, PAGE_APP):
        if app in match.app_names:
            return app
    return None


def refuse(request, app: str, status: int, code: str, message: str) -> HttpResponse:
    """An error answer in the surface's own shape: JSON for the API, a small page for the site."""
    if app == API_APP:
        return JsonResponse({"code": code, "detail": message}, status=status)
    body = format_html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Search by photo</title></head>'
        '<body><p role="alert" data-error-code="{}">{}</p><p><a href="{}">Back to search by photo</a></p>'
        "</body></html>",
        code,
        message,
        request.path,
    )
    return HttpResponse(body, status=status)
